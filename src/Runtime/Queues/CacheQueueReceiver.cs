using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace CountCachula.Runtime.Queues;

/// <summary>
/// Reads one <see cref="ICacheQueueGrain"/> for the pulling agent that owns the queue. A read waits in the queue
/// grain until a batch arrives, so the agent's own timer no longer decides how late an event is read, and an idle
/// queue costs one call per <see cref="CacheQueueOptions.ReadWait"/> instead of one per timer tick.
/// </summary>
internal sealed partial class CacheQueueReceiver(ICacheQueueGrain queue, CacheQueueOptions options, ILogger logger) : IQueueAdapterReceiver
{
    // The most batches one read returns when the agent sets no limit.
    private const int ReadLimit = 1024;

    private readonly CancellationTokenSource _stopping = new();
    private long _incarnation;
    private long _acknowledged;
    private int _failedReads;
    private Task? _reading;

    /// <inheritdoc />
    public Task Initialize(TimeSpan timeout) => Task.CompletedTask;

    /// <inheritdoc />
    public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount) => GetQueueMessagesAsync(maxCount, CancellationToken.None);

    /// <inheritdoc />
    public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        var reading = ReadAsync(maxCount <= 0 ? ReadLimit : Math.Min(maxCount, ReadLimit), cancellationToken);
        _reading = reading;
        return reading;
    }

    private async Task<IList<IBatchContainer>> ReadAsync(int maxCount, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);

        // Waits that end empty are asked again here: answering the agent with nothing would end its read loop until
        // its next timer tick, and an event arriving in between would wait for that tick.
        while (!stop.IsCancellationRequested)
        {
            CacheQueueRead read;
            try
            {
                read = await queue.Read(_incarnation, _acknowledged, maxCount, options.ReadWait, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                // The queue grain is moving (its silo is stopping or gone) or did not answer in time. Nothing was
                // taken from it: the next read sends the same acknowledgement and gets whatever is still owed.
                // Answered as an empty read after a pause (100 ms, doubling to 1 s, while reads keep failing), so the
                // agent neither logs an error for what the cluster repairs by itself nor asks again at once.
                LogReadFailed(logger, exception.GetType().Name, exception.Message);
                var pause = TimeSpan.FromMilliseconds(Math.Min(1000, 100 << Math.Min(_failedReads++, 4)));
                try
                {
                    await Task.Delay(pause, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: the empty answer goes back at once.
                }

                break;
            }

            _failedReads = 0;

            if (read.Incarnation != _incarnation)
            {
                // A new activation of the queue (the old one's silo stopped): its numbers start afresh.
                _incarnation = read.Incarnation;
                _acknowledged = 0;
            }

            if (read.Messages.Length > 0)
            {
                _acknowledged = read.Messages[^1].Sequence;
                return read.Messages;
            }
        }

        return [];
    }

    /// <inheritdoc />
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages) => Task.CompletedTask;

    /// <inheritdoc />
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task Shutdown(TimeSpan timeout)
    {
        // Ends a read that is waiting; what it had not handed over stays in the queue for the next reader.
        _stopping.Cancel();
        if (_reading is { } reading)
        {
            try
            {
                await reading.WaitAsync(timeout);
            }
            catch (Exception exception)
            {
                LogShutdownRead(logger, exception);
            }
        }
    }

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "A queue read failed ({ExceptionType}: {Reason}); reading again on the next tick")]
    private static partial void LogReadFailed(ILogger logger, string exceptionType, string reason);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Debug, Message = "A queue read ended with an error while the reader stopped")]
    private static partial void LogShutdownRead(ILogger logger, Exception exception);
}
