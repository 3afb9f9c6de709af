using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Configuration;

/// <summary>
/// Reads a YAML text as a stream of events, before it is loaded into a tree, and refuses what would crash or stall
/// the loader: nesting deeper than <see cref="MaxDepth"/> (the tree is built by recursion, and 100,000 nested
/// <c>[</c> overflowed the stack, which no handler can catch), aliases that expand to more than
/// <see cref="MaxExpandedNodes"/> nodes (a chain of anchors, each doubling the one before, is exponential in size),
/// and lists or mappings used as mapping keys (the loader hashes a key through all of its aliases: exponential time).
/// The event parser keeps its own stack, so reading the events is safe at any depth.
/// </summary>
internal static class YamlLimits
{
    /// <summary>Far more than any config needs (five levels deep is the most a config uses).</summary>
    public const int MaxDepth = 64;

    /// <summary>What aliases may expand a document to; a config with 256 downstreams is about 1,000 nodes.</summary>
    public const long MaxExpandedNodes = 100_000;

    /// <summary>
    /// Loads <paramref name="text"/> into a tree when it keeps within the limits; otherwise adds the first limit
    /// broken to <paramref name="errors"/> and returns null.
    /// </summary>
    /// <exception cref="YamlException">The text is not YAML, with the position where it stops being YAML.</exception>
    public static YamlStream? Load(string text, ConfigErrors errors)
    {
        if (!Check(text, errors))
        {
            return null;
        }
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try
        {
            stream.Load(parser);
        }
        catch (Exception e) when (e is not YamlException)
        {
            // The tree loader too throws other exceptions on some malformed input (ArgumentException "the current
            // event is of an unsupported type"); the parser knows where it was.
            var at = parser.Current?.Start ?? Mark.Empty;
            throw new YamlException(at, at, NotYaml, e);
        }
        return stream;
    }

    private const string NotYaml = "cannot be read as YAML after this point (check the brackets, quotes and indentation that follow)";

    /// <summary>Adds the first limit broken to <paramref name="errors"/> and returns false; true when within them all.</summary>
    private static bool Check(string text, ConfigErrors errors)
    {
        var parser = new Parser(new StringReader(text));
        var open = new Stack<Collection>();
        // Per document: an alias can only refer to an anchor of its own document.
        var anchored = new Dictionary<string, long>(StringComparer.Ordinal);
        var expanded = 0L;
        var readTo = Mark.Empty;
        while (Next(parser, readTo))
        {
            var current = parser.Current!;
            readTo = current.End;
            long size;
            switch (current)
            {
                case DocumentStart:
                    anchored.Clear();
                    expanded = 0;
                    continue;
                case SequenceStart or MappingStart:
                    if (open.TryPeek(out var parent) && parent.AtKey)
                    {
                        return Refuse(errors, current.Start, "a mapping key must be a plain value, not a list or mapping");
                    }
                    if (open.Count >= MaxDepth)
                    {
                        return Refuse(errors, current.Start, $"nested deeper than {MaxDepth} levels");
                    }
                    open.Push(new Collection(current is MappingStart, ((NodeEvent)current).Anchor));
                    expanded++;
                    continue;
                case SequenceEnd or MappingEnd:
                    var done = open.Pop();
                    size = done.Nodes + 1;
                    Anchor(anchored, done.Anchor, size);
                    break;
                case Scalar scalar:
                    size = 1;
                    expanded++;
                    Anchor(anchored, scalar.Anchor, size);
                    break;
                case AnchorAlias alias:
                    // An alias of an unknown anchor is left to the loader, which reports it with its position.
                    size = anchored.GetValueOrDefault(alias.Value.Value, 1);
                    if (size > 1 && open.TryPeek(out var holder) && holder.AtKey)
                    {
                        return Refuse(errors, current.Start, "a mapping key must be a plain value, not an alias of a list or mapping");
                    }
                    expanded += size;
                    break;
                default:
                    continue;
            }
            if (expanded > MaxExpandedNodes)
            {
                return Refuse(errors, current.Start, $"aliases expand to more than {MaxExpandedNodes} nodes");
            }
            if (open.TryPeek(out var container))
            {
                container.Add(size);
            }
        }
        return true;
    }

    /// <summary>
    /// The parser's next event. YamlDotNet's scanner throws exceptions other than <see cref="YamlException"/> on
    /// some malformed input (InvalidOperationException from ScanPlainScalar, say): those become a syntax error
    /// after the last event that was read, where the text stops being YAML.
    /// </summary>
    private static bool Next(Parser parser, Mark readTo)
    {
        try
        {
            return parser.MoveNext();
        }
        catch (Exception e) when (e is not YamlException)
        {
            throw new YamlException(readTo, readTo, NotYaml, e);
        }
    }

    private static void Anchor(Dictionary<string, long> anchored, AnchorName anchor, long size)
    {
        if (!anchor.IsEmpty)
        {
            anchored[anchor.Value] = size;
        }
    }

    private static bool Refuse(ConfigErrors errors, Mark at, string message)
    {
        errors.Add(at, "(yaml)", message);
        return false;
    }

    /// <summary>A list or mapping being read: the nodes it holds so far, aliases expanded.</summary>
    private sealed class Collection(bool mapping, AnchorName anchor)
    {
        private long _children;

        public AnchorName Anchor { get; } = anchor;

        public long Nodes { get; private set; }

        /// <summary>Whether the next node is a mapping key (keys and values alternate).</summary>
        public bool AtKey => mapping && _children % 2 == 0;

        public void Add(long size)
        {
            _children++;
            Nodes += size;
        }
    }
}
