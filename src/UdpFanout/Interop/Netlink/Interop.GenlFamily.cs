using System.Text;

internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>A generic netlink family as the controller describes it: its id, and its multicast groups' ids by name.</summary>
        internal sealed class GenlFamily
        {
            private readonly string _name;
            private readonly Dictionary<string, uint> _groups;

            private GenlFamily(string name, ushort id, Dictionary<string, uint> groups)
            {
                _name = name;
                Id = id;
                _groups = groups;
            }

            public ushort Id { get; }

            /// <summary>Asks the controller about family <paramref name="name"/>; one the kernel lacks is refused with ENOENT.</summary>
            public static GenlFamily Resolve(NetlinkSocket socket, string name)
            {
                var request = new NetlinkRequest(GENL_ID_CTRL, NLM_F_REQUEST)
                    .Put(new genlmsghdr { cmd = CTRL_CMD_GETFAMILY, version = 1 })
                    .Attribute(CTRL_ATTR_FAMILY_NAME, Encoding.ASCII.GetBytes(name + "\0"));
                ushort? id = null;
                var groups = new Dictionary<string, uint>();
                socket.Request(request, $"describe the generic netlink family '{name}'", (type, body) =>
                {
                    if (type != GENL_ID_CTRL || !NetlinkAttributes.TrySplit<genlmsghdr>(body, out _, out var attributes))
                    {
                        return;
                    }
                    id = NetlinkAttributes.Read<ushort>(attributes, CTRL_ATTR_FAMILY_ID);
                    foreach (var (_, group) in NetlinkAttributes.Walk(NetlinkAttributes.Find(attributes, CTRL_ATTR_MCAST_GROUPS)))
                    {
                        var groupName = NetlinkAttributes.Find(group, CTRL_ATTR_MCAST_GRP_NAME);
                        if (NetlinkAttributes.Read<uint>(group, CTRL_ATTR_MCAST_GRP_ID) is { } groupId && groupName.Length > 0)
                        {
                            groups[Encoding.ASCII.GetString(groupName.TrimEnd((byte)0))] = groupId;
                        }
                    }
                });
                return id is { } found
                    ? new GenlFamily(name, found, groups)
                    : throw NetlinkException.For($"the kernel's generic netlink family '{name}' has no id", Libc.ENOENT);
            }

            /// <summary>The id of multicast group <paramref name="name"/>, to join; a family without it is refused with ENOENT.</summary>
            public uint Group(string name) =>
                _groups.TryGetValue(name, out var id) ? id : throw NetlinkException.For($"the kernel's generic netlink family '{_name}' has no multicast group '{name}'", Libc.ENOENT);

            /// <summary>A request for command <paramref name="command"/> of this family (its genlmsghdr written), to add attributes to.</summary>
            public NetlinkRequest Request(byte command, ushort flags) =>
                new NetlinkRequest(Id, flags).Put(new genlmsghdr { cmd = command, version = 1 });
        }
    }
}
