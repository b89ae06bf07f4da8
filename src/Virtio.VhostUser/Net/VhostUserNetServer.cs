using Microsoft.Extensions.Logging;
using Virtio.Devices.Net;

namespace Virtio.VhostUser.Net;

/// <summary>
/// Serves this project's virtio-net data path over vhost-user, the whole of <c>virtio serve net</c> for a C# host:
/// the backend (waiting for a <c>-netdev stream</c> peer if asked), an optional pcap capture, the device, the fault and
/// the watchdog, the statistics, the socket's lifetime, and the backend's disposal.
/// </summary>
public static class VhostUserNetServer
{
    /// <summary>Serves until <paramref name="cancellationToken"/> fires (or the connection ends, with <see cref="VhostUserServeOptions.Once"/> or <see cref="VhostUserServeOptions.Connect"/>).</summary>
    /// <exception cref="ArgumentException"><see cref="NetServeOptions.Validate"/> refused the settings (its message).</exception>
    /// <exception cref="IOException">The backend's socket, the capture file or the vhost-user socket cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The capture file cannot be created.</exception>
    public static void Serve(NetServeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        NetBackendSpec spec = options.Backend;
        INetBackend? backend = null;
        PcapNetBackend? capture = null;
        try
        {
            if (spec.Kind == NetBackendKind.StreamListen)
            {
                options.Report($"waiting for a -netdev stream peer on {spec.Path}");
            }

            try
            {
                backend = spec.Create(options.QueuePairs, options.LoggerFactory?.CreateLogger("Virtio.Net.Stream"), cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return; // stopped while waiting for the stream peer: nothing was served
            }

            capture = options.PcapPath is null ? null : new PcapNetBackend(backend, options.PcapPath);
            using VhostUserBackend vhost = VhostUserNet.CreateBackend(capture ?? backend, new VhostUserNetOptions
            {
                QueuePairs = options.QueuePairs,
                QueueSize = options.QueueSize,
                LoggerFactory = options.LoggerFactory,
                WrapCall = options.BackendOptions().WrapCall,
                PollIdle = options.PollIdle,
            });
            var meter = new NetRateMeter((VirtioNetDevice)vhost.Device);
            using (options.StatsInterval is { } every ? new Timer(_ => options.Report(meter.Sample()), null, every, every) : null)
            {
                options.Serve(vhost, $"{options.QueuePairs} queue pair(s), backend {spec}{(options.PollIdle > TimeSpan.Zero ? ", polling" : string.Empty)}", cancellationToken);
            }

            options.Report(meter.Sample());
            options.Report($"stopped ({vhost.Messages} messages on the last connection)");
        }
        finally
        {
            capture?.Dispose();
            switch (backend)
            {
                case IAsyncDisposable async:
                    async.DisposeAsync().AsTask().Wait(5000, CancellationToken.None); // a stream peer that never answers must not hold the exit
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }
        }
    }
}
