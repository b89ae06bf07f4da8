using System.CommandLine;
using System.Globalization;
using Virtio.Cli.CommandLine;
using Virtio.Diagnostics.Live;
using Virtio.Diagnostics.Qmp;

namespace Virtio.Cli.Diagnose;

/// <summary>
/// <c>virtio diagnose</c>: the three questions asked of a running QEMU over QMP (<see cref="QemuDiagnostics"/>).
/// Exit code 0: every queue healthy or progressing; 2: a hang was found; 1: QEMU could not be reached, answered
/// something unexpected, or a device could not be diagnosed (the reason on stderr).
/// </summary>
internal static class DiagnoseCommand
{
    /// <summary>Exit code when every queue is healthy or progressing.</summary>
    public const int ExitHealthy = ExitCodes.Success;

    /// <summary>Exit code when QEMU cannot be reached or answers something unexpected.</summary>
    public const int ExitError = ExitCodes.Error;

    /// <summary>Exit code when a hang was found.</summary>
    public const int ExitHang = ExitCodes.Found;

    /// <summary>Builds the command, writing to <paramref name="output"/> and <paramref name="error"/> (default: the console).</summary>
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
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = output ?? parse.InvocationConfiguration.Output;
            TextWriter stderr = error ?? parse.InvocationConfiguration.Error;
            double seconds = parse.GetValue(interval);
            double replySeconds = parse.GetValue(timeout);
            int? queueIndex = parse.GetValue(queue);
            using Microsoft.Extensions.Logging.ILoggerFactory logging = CliLogging.Create(parse);
            var options = new QemuDiagnosisOptions
            {
                Path = parse.GetValue(path), Queue = queueIndex, Interval = TimeSpan.FromSeconds(seconds), Logger = logging.CreateLogger("Virtio.Diagnose"),
            };
            if (format.Resolve(parse, stderr, "diagnose") is not { } fmt)
            {
                return ExitError;
            }

            bool json = fmt == "json";
            try
            {
                await using QmpClient client = await QmpClient.ConnectAsync(parse.GetValue(qmp)!, new QmpClientOptions { CommandTimeout = TimeSpan.FromSeconds(replySeconds), Logger = logging.CreateLogger("Virtio.Qmp") }, cancellationToken);
                var diagnostics = new QemuDiagnostics(client, options);
                if (parse.GetValue(watch))
                {
                    return await WatchAsync(diagnostics, json, stdout, cancellationToken);
                }

                QemuDiagnosis diagnosis = await diagnostics.DiagnoseAsync(cancellationToken);
                if (parse.GetValue(save) is { } directory)
                {
                    diagnosis.SaveReplies(directory);
                }

                if (json)
                {
                    foreach (QueueDiagnosis q in diagnosis.Queues)
                    {
                        await stdout.WriteLineAsync(q.ToJson());
                    }
                }
                else
                {
                    await stdout.WriteAsync(diagnosis.ToText());
                }

                await stdout.FlushAsync(cancellationToken);
                foreach (DeviceDiagnosis d in diagnosis.Devices.Where(d => d.Refusal is not null))
                {
                    stderr.WriteLine($"virtio diagnose: {d.Path}: {d.Refusal}");
                }

                return ExitCode(diagnosis);
            }
            catch (QmpException e)
            {
                stderr.WriteLine($"virtio diagnose: {e.Message}");
                return ExitError;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"virtio diagnose: --save: {e.Message}");
                return ExitError;
            }
        });
        return command;
    }

    /// <summary>The exit code of a diagnosis: a hang first, then a device that could not be diagnosed.</summary>
    public static int ExitCode(QemuDiagnosis diagnosis)
    {
        ArgumentNullException.ThrowIfNull(diagnosis);
        return diagnosis.HasHang ? ExitHang : diagnosis.HasRefusal ? ExitError : ExitHealthy;
    }

    // A line per queue whose verdict changed (all of them on the first round), until interrupted; the exit code is
    // the last round's.
    private static async Task<int> WatchAsync(QemuDiagnostics diagnostics, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var changes = new QueueVerdictChanges();
        int exit = ExitHealthy;
        try
        {
            await foreach (QemuDiagnosis d in diagnostics.WatchAsync(cancellationToken))
            {
                exit = ExitCode(d);
                foreach (QueueDiagnosis q in changes.Next(d))
                {
                    await stdout.WriteLineAsync(json ? q.ToJson() : string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.Now:HH:mm:ss} {q.Summary}"));
                }

                await stdout.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        return exit;
    }
}
