using Orleans.Runtime.Providers;
using CountCachula.AspNetCore.Hosting;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// How long a stream pulling agent waits before it tries again to read its queue or to deliver to a consumer after
/// a failure: <paramref name="first"/>, doubling per attempt up to <paramref name="cap"/>. Orleans waits 10–20 s
/// before re-reading a queue whose read failed — and a read fails whenever the queue's grain was on a silo that just
/// died, so every event published in those seconds reached its browsers 6–10 s late (measured by the crash test).
/// The failures this retries are ones that end once the dead silo is declared dead (about 2 s); the cost of retrying
/// sooner is a logged error per attempt while that lasts.
/// </summary>
public sealed class StreamFailoverBackoff(TimeSpan first, TimeSpan cap) : IQueueReaderBackoffProvider, IMessageDeliveryBackoffProvider
{
    /// <inheritdoc />
    public TimeSpan Next(int attempt)
    {
        var delay = first * Math.Pow(2, Math.Clamp(attempt, 0, 16));
        return delay < cap ? delay : cap;
    }
}
