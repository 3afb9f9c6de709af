namespace UdpFanout.Metrics;

/// <summary>
/// When the series of a downstream or listener that left the config go. The first scrape that finds one gone
/// still exports its final counts and starts its grace period, so every scraper sees them at least once; the first
/// scrape after the grace period removes the series. Only what is gone now is remembered: a subject that returns,
/// or whose series were removed, is forgotten when the scrape ends, so this holds nothing for long.
/// Not thread-safe: one scrape at a time.
/// </summary>
internal sealed class SeriesRetirement(TimeProvider time, TimeSpan grace)
{
    private Dictionary<string[], DateTimeOffset> _goneSince = new(StringArrayComparer.Instance);
    private Dictionary<string[], DateTimeOffset> _stillGone = new(StringArrayComparer.Instance);

    /// <summary>
    /// Called during a scrape for the series <paramref name="labels"/>, whose subject is not in the config:
    /// true once its grace period has run out (the caller removes it), false while its final counts still show.
    /// </summary>
    public bool Expired(string[] labels)
    {
        var now = time.GetUtcNow();
        var since = _goneSince.GetValueOrDefault(labels, now);
        if (now - since >= grace)
        {
            return true;
        }
        _stillGone[labels] = since;
        return false;
    }

    /// <summary>Ends a scrape: whatever it did not find gone is forgotten.</summary>
    public void EndScrape()
    {
        (_goneSince, _stillGone) = (_stillGone, _goneSince);
        _stillGone.Clear();
    }
}
