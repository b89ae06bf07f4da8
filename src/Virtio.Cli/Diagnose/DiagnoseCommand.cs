using System.CommandLine;
using System.Globalization;
using Virtio.Cli.CommandLine;
using Virtio.Diagnostics.Live;
using Virtio.Diagnostics.Qmp;

namespace Virtio.Cli.Diagnose;

/// <summary><c>virtio diagnose</c>: the three questions asked of a running QEMU over QMP (<see cref="QemuDiagnostics"/>).</summary>
internal static class DiagnoseCommand
{
    /// <summary>The exit codes (<see cref="ExitCodes"/>): every queue healthy or progressing; QEMU unreachable, answering something unexpected or a device that could not be diagnosed; a hang was found.</summary>
    public const int ExitHealthy = ExitCodes.Success, ExitError = ExitCodes.Error, ExitHang = ExitCodes.Found;

    public static Command Build(TextWriter? output = null, TextWriter? error = null)
    {
        var qmp = new Option<string>("--qmp") { Description = "QEMU's QMP socket: a Unix socket path, or host:port", Required = true };
        var path = new Option<string?>("--path") { Description = "the QOM path of one device (as x-query-virtio lists it); default: every virtio device" };
        var queue = CliOption.OptionalWholeNumber("--queue", "one queue; default: every queue", 0, ushort.MaxValue);
        var interval = CliOption.Seconds("--interval", "seconds between the two readings of each queue (under --watch, between polls)", 2, 0, 3600);
        var watch = new Option<bool>("--watch") { Description = "keep polling and print a line whenever a queue's verdict changes, until interrupted" };
        var format = OutputFormat.Create("text, or json (one object per queue, per line)");
        var save = CliOption.OutputDirectory("--save", "also write each device's x-query-virtio-status and each queue's x-query-virtio-queue-status reply here, for virtio analyze");
        var timeout = CliOption.Seconds("--timeout", "seconds to wait for each QMP reply", 10, 0, 3600, minExclusive: true);

        var command = new Command("diagnose", "Why is a virtqueue stuck? Ask a running QEMU over QMP (no GDB)")
        {
            qmp, path, queue, interval, watch, format.Format, format.Json, save, timeout,
        };
        CliRun.SetAction(command, "diagnose", format, output, error, async (run, cancellationToken) =>
        {
            using Microsoft.Extensions.Logging.ILoggerFactory logging = run.Logging();
            var options = new QemuDiagnosisOptions
            {
                Path = run.Get(path), Queue = run.Get(queue), Interval = TimeSpan.FromSeconds(run.Get(interval)), Logger = logging.CreateLogger("Virtio.Diagnose"),
            };
            try
            {
                await using QmpClient client = await QmpClient.ConnectAsync(run.Get(qmp)!, new QmpClientOptions { CommandTimeout = TimeSpan.FromSeconds(run.Get(timeout)), Logger = logging.CreateLogger("Virtio.Qmp") }, cancellationToken);
                var diagnostics = new QemuDiagnostics(client, options);
                if (run.Get(watch))
                {
                    // A line per queue whose verdict changed, until interrupted; the exit code is the last round's.
                    QemuDiagnosis? last = await diagnostics.WatchChangesAsync(
                        async (changed, ct) =>
                        {
                            foreach (QueueDiagnosis q in changed)
                            {
                                await run.Out.WriteLineAsync(run.Json ? q.ToJson() : string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.Now:HH:mm:ss} {q.Summary}"));
                            }

                            await run.Out.FlushAsync(ct);
                        },
                        cancellationToken);
                    return last is null ? ExitHealthy : ExitCode(last);
                }

                QemuDiagnosis diagnosis = await diagnostics.DiagnoseAsync(cancellationToken);
                if (run.Get(save) is { } directory)
                {
                    diagnosis.SaveReplies(directory);
                }

                await run.Out.WriteAsync(run.Json ? string.Concat(diagnosis.Queues.Select(q => q.ToJson() + run.Out.NewLine)) : diagnosis.ToText());
                await run.Out.FlushAsync(cancellationToken);
                foreach (DeviceDiagnosis d in diagnosis.Devices.Where(d => d.Refusal is not null))
                {
                    run.Error.WriteLine($"virtio diagnose: {d.Path}: {d.Refusal}");
                }

                return ExitCode(diagnosis);
            }
            catch (QmpException e)
            {
                return run.Fail(e.Message);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return run.Fail($"--save: {e.Message}");
            }
        });
        return command;
    }

    // A hang first, then a device that could not be diagnosed.
    private static int ExitCode(QemuDiagnosis diagnosis) => diagnosis.HasHang ? ExitHang : diagnosis.HasRefusal ? ExitError : ExitHealthy;
}
