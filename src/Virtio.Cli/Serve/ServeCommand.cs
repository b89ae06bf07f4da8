using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Watchdog;
using Virtio.VhostUser;

namespace Virtio.Cli.Serve;

/// <summary>
/// <c>virtio serve blk</c>: this project's virtio-blk device served over vhost-user until SIGINT or SIGTERM, for QEMU's
/// <c>-device vhost-user-blk-pci,chardev=c0</c> with <c>-chardev socket,id=c0,path=PATH</c>.
/// </summary>
internal static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var socket = SocketOption();
        var connect = ConnectOption();
        var image = CliOption.InputFile("--image", "serve this disk image file");
        var memory = new Option<ulong>("--memory")
        {
            Description = "serve a zeroed in-memory disk of this size (e.g. 64M, 1G)",
            CustomParser = r =>
            {
                string text = r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value;
                if (TryParseSize(text, out ulong bytes))
                {
                    return bytes;
                }

                r.AddError($"--memory {text}: not a size in whole 512-byte sectors (e.g. 64M, 1G)");
                return 0;
            },
        };
        var readOnly = new Option<bool>("--read-only") { Description = "refuse writes (VIRTIO_BLK_F_RO)" };
        var numQueues = CliOption.WholeNumber("--num-queues", "request queues (VIRTIO_BLK_F_MQ above 1)", 1, 1, 64);
        var queueSize = CliOption.WholeNumber("--queue-size", "the largest ring the front-end may set: a power of two", 1024, 1, CliOption.MaxRingSize);
        var once = OnceOption();
        var fault = FaultOption("stall-backend:N (the N-th request never completes)");
        var stallTimeout = StallTimeoutOption();
        var blk = new Command("blk", "Serve virtio-blk over vhost-user until interrupted")
        {
            socket, connect, image, memory, readOnly, numQueues, queueSize, once, fault, stallTimeout,
        };
        blk.SetAction(parse =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter stderr = parse.InvocationConfiguration.Error;
            FileInfo? imageFile = parse.GetValue(image);
            ulong bytes = parse.GetValue(memory);
            int queues = parse.GetValue(numQueues), size = parse.GetValue(queueSize);
            DeviceFaultSpec? faultSpec = parse.GetValue(fault);
            double stallSeconds = parse.GetValue(stallTimeout);
            string path = parse.GetValue(socket)!;
            string? error = (imageFile is null) == (bytes == 0) ? (imageFile is null ? "give --image FILE or --memory SIZE" : "give --image or --memory, not both")
                : (size & (size - 1)) != 0 ? $"--queue-size {size}: must be a power of two from 1 to {CliOption.MaxRingSize}"
                : CheckFaultRing(faultSpec, queues) ?? UnixSocketPath.CheckLength("--socket", path);
            if (error is not null)
            {
                stderr.WriteLine($"virtio serve blk: {error}");
                return ExitCodes.Error;
            }

            using ILoggerFactory logging = CliLogging.Create(parse, LogLevel.Information);
            try
            {
                IBlockBackend backend = imageFile is not null
                    ? new FileBlockBackend(new FileBlockBackendOptions { Path = imageFile.FullName, ReadOnly = parse.GetValue(readOnly) })
                    : new MemoryBlockBackend(bytes, parse.GetValue(readOnly));
                if (faultSpec is { Kind: DeviceFaultKind.StallBackend })
                {
                    backend = new StallingBlockBackend(backend, faultSpec.N);
                }

                var deviceOptions = new BlockDeviceOptions
                {
                    NumQueues = queues,
                    Serial = "virtio-sharp",
                    Device = new VirtioDeviceOptions { QueueSize = size, LoggerFactory = logging },
                };
                using var vhost = new VhostUserBackend(
                    guestMemory => new BlockDevice(guestMemory, backend, deviceOptions),
                    new VhostUserBackendOptions { LoggerFactory = logging, WrapCall = faultSpec is null ? null : faultSpec.WrapCall });
                faultSpec?.ApplyToKicks(vhost.Device);
                if (faultSpec is not null)
                {
                    stdout.WriteLine($"virtio serve blk: injecting {faultSpec}; expect the verdict {HangReport.VerdictName(faultSpec.ExpectedVerdict)}");
                }

                // The watchdog notices a queue that stops with work outstanding and logs the three questions and the verdict.
                using QueueWatchdog watchdog = DeviceWatchdog.Start(vhost.Device, TimeSpan.FromSeconds(stallSeconds), logging.CreateLogger("Virtio.Watchdog"));
                return Run(vhost, backend, path, parse.GetValue(connect), parse.GetValue(once), imageFile?.FullName ?? $"memory ({bytes} bytes)", stdout, stderr);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                stderr.WriteLine($"virtio serve blk: {e.Message}");
                return ExitCodes.Error;
            }
        });
        return new Command("serve", "Serve a device over vhost-user") { blk, ServeNetCommand.Build() };
    }

    internal static Option<string> SocketOption() => new("--socket") { Description = "the vhost-user Unix socket path", Required = true };

    internal static Option<bool> ConnectOption() => new("--connect") { Description = "connect to a front-end listening on --socket (QEMU server=on) instead of listening" };

    internal static Option<bool> OnceOption() => new("--once") { Description = "serve one connection, then exit" };

    internal static Option<double> StallTimeoutOption() =>
        CliOption.Seconds("--stall-timeout", "seconds without progress, work outstanding, before the watchdog logs its diagnosis", 5, 0, 3600, minExclusive: true);

    /// <summary>
    /// --fault: drop-kick:N and drop-call:N, each for every ring or one (<c>:INDEX</c>; with <paramref name="rxTx"/>
    /// also <c>:rx</c>/<c>:tx</c>, virtio-net's even and odd rings), and the device's own kinds described by <paramref name="more"/>.
    /// </summary>
    internal static Option<DeviceFaultSpec?> FaultOption(string? more, bool rxTx = false)
    {
        string ring = rxTx ? "[:rx|:tx|:RING]" : "[:RING]";
        return new("--fault")
        {
            Description = $"inject a fault: drop-kick:N{ring}, drop-call:N{ring} (the N-th on each chosen ring, every ring without a suffix, is lost)" + (more is null ? string.Empty : " or " + more),
            CustomParser = r =>
            {
                string text = r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value;
                if (DeviceFaultSpec.TryParse(text, out DeviceFaultSpec? spec) && (more is not null || spec!.Kind != DeviceFaultKind.StallBackend)
                    && (rxTx || spec!.Rings is not (DeviceFaultRings.Rx or DeviceFaultRings.Tx)))
                {
                    return spec;
                }

                r.AddError($"--fault {text}: must be drop-kick:N{ring}, drop-call:N{ring}{(more is null ? string.Empty : " or stall-backend:N")} with N from 1");
                return null;
            },
        };
    }

    /// <summary>Why <paramref name="spec"/> names a ring the device does not have, or null.</summary>
    internal static string? CheckFaultRing(DeviceFaultSpec? spec, int rings) =>
        spec is { Rings: DeviceFaultRings.One } && spec.Ring >= rings
            ? $"--fault {spec}: ring {spec.Ring} does not exist (the device has rings 0 to {rings - 1})"
            : null;

    /// <summary>
    /// Serves <paramref name="vhost"/> on <paramref name="path"/> (listening, or connecting with
    /// <paramref name="connect"/>) until SIGINT or SIGTERM, which end the connection cleanly: rings stopped after
    /// their requests finish, memory unmapped.
    /// </summary>
    internal static void ServeUntilStopped(VhostUserBackend vhost, string command, string what, string path, bool connect, bool once, TextWriter stdout)
    {
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        if (connect)
        {
            stdout.WriteLine($"virtio serve {command}: {what}, connecting to {path}");
            stdout.Flush();
            VhostUserServer.Connect(vhost, path, stop.Token);
        }
        else
        {
            VhostUserServer.Listen(vhost, path, once, () =>
            {
                stdout.WriteLine($"virtio serve {command}: {what}, listening on {path}");
                stdout.Flush();
            }, stop.Token);
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    private static int Run(VhostUserBackend vhost, IBlockBackend backend, string path, bool connect, bool once, string disk, TextWriter stdout, TextWriter stderr)
    {
        ServeUntilStopped(vhost, "blk", disk, path, connect, once, stdout);

        // Serving has ended with every ring stopped, its requests completed or failed: now the image is made durable,
        // before the process exits (a guest's write acknowledged without FLUSH must survive a clean shutdown too).
        BlockIoStatus flushed = backend.Flush();
        stdout.WriteLine($"virtio serve blk: stopped ({vhost.Messages} messages on the last connection)");
        stdout.Flush();
        if (flushed != BlockIoStatus.Ok)
        {
            stderr.WriteLine($"virtio serve blk: flushing {disk} failed ({flushed}); the last writes may not be durable");
            return ExitCodes.Error;
        }

        stdout.WriteLine($"virtio serve blk: {disk} flushed");
        stdout.Flush();
        return ExitCodes.Success;
    }

    private static bool TryParseSize(string text, out ulong bytes)
    {
        bytes = 0;
        int shift = char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift == 0 ? text : text[..^1];
        if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n == 0 || n > (ulong.MaxValue >> shift))
        {
            return false;
        }

        bytes = n << shift;
        return bytes % 512 == 0;
    }
}
