using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// The invalidations a too-slow client missed, folded into one: the union of their tags (past
/// <see cref="SseConnection.CoalescedTagLimit"/> distinct tags, or when one of them was <c>*</c>, a single <c>*</c>),
/// with the newest of their ids (none when every one of them was a late event, which carries no id).
/// </summary>
internal sealed class MergedInvalidation
{
    private HashSet<string>? _tags = new(StringComparer.Ordinal);
    private long _through;

    /// <summary>Folds in the invalidation <paramref name="frame"/>.</summary>
    public void Add(SseFrame frame, IReadOnlyList<string> tags)
    {
        if (frame.HasId)
        {
            _through = Math.Max(_through, frame.Sequence);
        }
        if (_tags is null)
        {
            return;
        }

        foreach (var tag in tags)
        {
            if (tag == "*" || (_tags.Add(tag) && _tags.Count > SseConnection.CoalescedTagLimit))
            {
                // Everything, then: no need to keep counting.
                _tags = null;
                return;
            }
        }
    }

    /// <summary>The one invalidation that stands for everything folded in, in the client's format.</summary>
    public SseFrame ToFrame(SseFormat format) => SseFrame.Invalidation(_tags is null ? ["*"] : [.. _tags], format, _through);
}
