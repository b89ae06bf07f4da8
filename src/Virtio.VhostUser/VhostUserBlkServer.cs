using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Diagnostics.Faults;

namespace Virtio.VhostUser;

/// <summary>
/// Serves this project's virtio-blk device over vhost-user, the whole of <c>virtio serve blk</c> for a C# host: the
/// backend (file or memory, wrapped by a <c>stall-backend</c> fault), the device, the fault and the watchdog, the
/// socket's lifetime, and the flush that makes the disk durable when serving ends.
/// </summary>
public static class VhostUserBlkServer
{
    /// <summary>Serves until <paramref name="cancellationToken"/> fires (or the connection ends, with <see cref="VhostUserServeOptions.Once"/> or <see cref="VhostUserServeOptions.Connect"/>), then flushes the disk.</summary>
    /// <exception cref="ArgumentException"><see cref="BlkServeOptions.Validate"/> refused the settings (its message).</exception>
    /// <exception cref="IOException">The image or the socket cannot be opened, or the final flush failed.</exception>
    /// <exception cref="UnauthorizedAccessException">The image cannot be opened.</exception>
    public static void Serve(BlkServeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        string? image = options.ImagePath is null ? null : Path.GetFullPath(options.ImagePath);
        string disk = image ?? $"memory ({options.MemoryBytes} bytes)";
        IBlockBackend backend = image is not null
            ? new FileBlockBackend(new FileBlockBackendOptions { Path = image, ReadOnly = options.ReadOnly })
            : new MemoryBlockBackend(options.MemoryBytes, options.ReadOnly);
        if (options.Fault is { Kind: DeviceFaultKind.StallBackend } stall)
        {
            backend = new StallingBlockBackend(backend, stall.N);
        }

        using (backend)
        {
            var deviceOptions = new BlockDeviceOptions
            {
                NumQueues = options.NumQueues,
                Serial = options.Serial,
                Device = new VirtioDeviceOptions { QueueSize = options.QueueSize, LoggerFactory = options.LoggerFactory },
            };
            using var vhost = new VhostUserBackend(memory => new BlockDevice(memory, backend, deviceOptions), options.BackendOptions());
            options.Serve(vhost, disk, cancellationToken);

            // Serving has ended with every ring stopped, its requests completed or failed: now the image is made
            // durable, before the caller goes on (a write acknowledged without FLUSH must survive a clean shutdown too).
            BlockIoStatus flushed = backend.Flush();
            options.Report($"stopped ({vhost.Messages} messages on the last connection)");
            if (flushed != BlockIoStatus.Ok)
            {
                throw new IOException($"flushing {disk} failed ({flushed}); the last writes may not be durable");
            }

            options.Report($"{disk} flushed");
        }
    }
}
