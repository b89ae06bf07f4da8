using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
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
public static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var socket = new Option<string>("--socket") { Description = "the vhost-user Unix socket path", Required = true };
        var connect = new Option<bool>("--connect") { Description = "connect to a front-end listening on --socket (QEMU server=on) instead of listening" };
        var image = new Option<string?>("--image") { Description = "serve this disk image file" };
        var memory = new Option<string?>("--memory") { Description = "serve a zeroed in-memory disk of this size (e.g. 64M, 1G)" };
        var readOnly = new Option<bool>("--read-only") { Description = "refuse writes (VIRTIO_BLK_F_RO)" };
        var numQueues = new Option<int>("--num-queues") { Description = "request queues (VIRTIO_BLK_F_MQ above 1)", DefaultValueFactory = _ => 1 };
        var queueSize = new Option<int>("--queue-size") { Description = "the largest ring the front-end may set", DefaultValueFactory = _ => 1024 };
        var once = new Option<bool>("--once") { Description = "serve one connection, then exit" };
        var verbose = new Option<bool>("--verbose") { Description = "log every vhost-user message (debug level)" };
        var fault = new Option<string?>("--fault") { Description = "inject a fault: drop-kick:N, drop-call:N (the N-th on each queue is lost) or stall-backend:N (the N-th request never completes)" };
        var stallTimeout = new Option<double>("--stall-timeout") { Description = "seconds without progress, work outstanding, before the watchdog logs its diagnosis", DefaultValueFactory = _ => 5 };
        var blk = new Command("blk", "Serve virtio-blk over vhost-user until interrupted")
        {
            socket, connect, image, memory, readOnly, numQueues, queueSize, once, verbose, fault, stallTimeout,
        };
        blk.SetAction(parse =>
        {
            string? imagePath = parse.GetValue(image), memorySize = parse.GetValue(memory);
            int queues = parse.GetValue(numQueues), size = parse.GetValue(queueSize);
            ulong bytes = 0;
            DeviceFaultSpec? faultSpec = null;
            double stallSeconds = parse.GetValue(stallTimeout);
            if ((imagePath is null) == (memorySize is null) || (memorySize is not null && !TryParseSize(memorySize, out bytes))
                || queues < 1 || queues > 64 || size < 1 || size > 32768 || (size & (size - 1)) != 0
                || (parse.GetValue(fault) is { } f && !DeviceFaultSpec.TryParse(f, out faultSpec)) || !(stallSeconds > 0))
            {
                Console.Error.WriteLine("virtio serve blk: one of --image FILE or --memory SIZE; --num-queues 1..64; --queue-size a power of two up to 32768; " +
                    "--fault drop-kick:N, drop-call:N or stall-backend:N; --stall-timeout positive");
                return 2;
            }

            using ILoggerFactory logging = LoggerFactory.Create(b => b
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
                .SetMinimumLevel(parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information));
            try
            {
                IBlockBackend backend = imagePath is not null
                    ? new FileBlockBackend(new FileBlockBackendOptions { Path = imagePath, ReadOnly = parse.GetValue(readOnly) })
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
                    Console.WriteLine($"virtio serve blk: injecting {faultSpec}; expect the verdict {HangReport.VerdictName(faultSpec.ExpectedVerdict)}");
                }

                // The watchdog notices a queue that stops with work outstanding and logs the three questions and the verdict.
                using QueueWatchdog watchdog = DeviceWatchdog.Start(vhost.Device, TimeSpan.FromSeconds(stallSeconds), logging.CreateLogger("Virtio.Watchdog"));
                return Run(vhost, parse.GetValue(socket)!, parse.GetValue(connect), parse.GetValue(once), imagePath ?? $"memory ({bytes} bytes)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                Console.Error.WriteLine($"virtio serve blk: {e.Message}");
                return 1;
            }
        });
        return new Command("serve", "Serve a device over vhost-user") { blk };
    }

    private static int Run(VhostUserBackend vhost, string path, bool connect, bool once, string disk)
    {
        using var stop = new CancellationTokenSource();
        // SIGINT and SIGTERM end the connection cleanly: rings stopped after their requests finish, memory unmapped.
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        if (connect)
        {
            Console.WriteLine($"virtio serve blk: {disk}, connecting to {path}");
            VhostUserServer.Connect(vhost, path, stop.Token);
        }
        else
        {
            VhostUserServer.Listen(vhost, path, once, () => Console.WriteLine($"virtio serve blk: {disk}, listening on {path}"), stop.Token);
        }

        Console.WriteLine($"virtio serve blk: stopped ({vhost.Messages} messages on the last connection)");
        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
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
