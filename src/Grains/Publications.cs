namespace CountCachula.Grains;

/// <summary>What a hub accepts from a publisher, and the event it makes of it.</summary>
internal static class Publications
{
    /// <summary>
    /// Checks <paramref name="publication"/> (<see cref="CacheInput"/>, <see cref="CustomEvents"/>,
    /// <see cref="IdempotencyKeys"/>) and makes it an unsequenced event with <paramref name="newEvent"/>.
    /// </summary>
    /// <param name="publication">What the publisher sent.</param>
    /// <param name="newEvent">Makes the event of a kind and its items.</param>
    /// <param name="maxCustomEventBytes">The most bytes of UTF-8 a custom event's data may have (<see cref="CountCachulaSiloOptions.MaxCustomEventBytes"/>).</param>
    /// <exception cref="ArgumentException">What is wrong, naming the entry and its value.</exception>
    public static CacheEvent Validate(CachePublication publication, Func<CacheEventKind, string[], CacheEvent> newEvent, int maxCustomEventBytes = CustomEvents.DefaultMaxDataBytes)
    {
        ArgumentNullException.ThrowIfNull(publication);
        if (publication.IdempotencyKey is not null && IdempotencyKeys.Check(publication.IdempotencyKey) is { } keyProblem)
        {
            throw new ArgumentException(keyProblem, "idempotencyKey");
        }

        if (publication.ScopeTags is not null)
        {
            CacheInput.ThrowIfInvalid(publication.ScopeTags, "scopeTags");
        }

        string[] items;
        switch (publication.Kind)
        {
            case CacheEventKind.Invalidate:
                CacheInput.ThrowIfInvalid(publication.Items, "tags");
                items = CacheInput.Distinct(publication.Items);
                break;
            case CacheEventKind.PreloadHint:
                CacheInput.ThrowIfInvalid(publication.Items, "routes");
                items = CacheInput.Distinct(publication.Items);
                break;
            case CacheEventKind.Custom:
                if (CustomEvents.Check(publication.EventName, publication.Data, int.MaxValue) is { } problem)
                {
                    throw new ArgumentException(problem.Message, problem.Key);
                }

                if (CustomEvents.TooLarge(publication.Data!, maxCustomEventBytes) is { } bytes)
                {
                    throw new ArgumentException(
                        $"The custom event's data is {bytes} bytes of UTF-8; this hub accepts at most {maxCustomEventBytes} (CountCachula:Hub:{nameof(CountCachulaSiloOptions.MaxCustomEventBytes)}).",
                        "data");
                }

                items = [];
                break;
            default:
                throw new ArgumentException($"Unknown event kind {publication.Kind}.", nameof(publication));
        }

        return newEvent(publication.Kind, items) with
        {
            ScopeTags = publication.Kind == CacheEventKind.Invalidate || publication.ScopeTags is null ? null : CacheInput.Distinct(publication.ScopeTags),
            EventName = publication.Kind == CacheEventKind.Custom ? publication.EventName : null,
            Data = publication.Kind == CacheEventKind.Custom ? publication.Data : null,
            IdempotencyKey = publication.IdempotencyKey,
            Public = publication.Kind != CacheEventKind.Invalidate && publication.Public,
        };
    }
}
