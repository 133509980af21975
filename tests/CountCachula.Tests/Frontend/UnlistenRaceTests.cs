using CountCachula.AspNetCore.Publishing;
using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// A stream that opens while the server is taking back a registration it no longer needed (the tenant's last <c>*</c>
/// stream just closed, and the broadcast grain has not answered the unlisten yet) waits for the registration to be
/// made again, instead of counting on one that is about to go and then receiving nothing.
/// </summary>
public sealed class UnlistenRaceTests : IAsyncLifetime
{
    private readonly UnlistenGate _gate = new();
    private TestFrontend _frontend = null!;

    public async Task InitializeAsync() => _frontend = await TestFrontend.StartAsync(
        "unlisten-" + Guid.NewGuid().ToString("N")[..8],
        configure: builder => builder.Services.AddSingleton<IIncomingGrainCallFilter>(_gate));

    public async Task DisposeAsync()
    {
        _gate.Release.TrySetResult();
        await _frontend.DisposeAsync();
    }

    [Fact]
    public async Task A_stream_that_opens_while_its_registration_is_being_taken_back_still_gets_every_event()
    {
        var (first, _) = await SseClient.ConnectAndWaitAsync(_frontend.Http);
        _gate.Armed = true;

        // The tenant's only '*' stream leaves: the server unlistens from the broadcast grain, which holds the call.
        await first.DisposeAsync();
        await _gate.Entered.Task.WaitAsync(Timeouts.Default);

        // A new '*' stream arrives meanwhile. Its head may come first (subscribing is slow), its 'connected' only once
        // the server is registered again, which needs the unlisten to end.
        await using var second = await SseClient.ConnectAsync(_frontend.Http, "/api/cache-events");
        _gate.Release.TrySetResult();
        await second.NextOfTypeAsync("connected", "the new stream, once registered again");

        await _frontend.Get<ICacheHub>().InvalidateAsync("after:unlisten");
        Assert.Equal("after:unlisten", (await second.NextOfTypeAsync("invalidate", "an event after the unlisten ended")).Data);
    }

    /// <summary>Holds the broadcast grain's unlisten of everything, once armed, until released.</summary>
    private sealed class UnlistenGate : IIncomingGrainCallFilter
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public volatile bool Armed;

        public async Task Invoke(IIncomingGrainCallContext context)
        {
            if (Armed && context.InterfaceMethod?.Name == nameof(IBroadcastGrain.Unlisten) && context.Request.GetArgument(1) is BroadcastInterest.Everything)
            {
                Entered.TrySetResult();
                await Release.Task;
            }

            await context.Invoke();
        }
    }
}
