using System.CommandLine;
using Virtio.Cli.CommandLine;
using Virtio.Diagnostics;

namespace Virtio.Cli.Analyze;

/// <summary>
/// <c>virtio analyze</c>: the offline hang analysis of <see cref="DumpAnalysis"/> on a RAM dump and saved QMP replies.
/// Exit codes as <see cref="ExitCodes"/>: 0 healthy; 2 a hang was found; 1 bad input (the reason on stderr).
/// </summary>
internal static class AnalyzeCommand
{
    /// <summary>Exit code when the queue is healthy.</summary>
    public const int ExitHealthy = ExitCodes.Success;

    /// <summary>Exit code for bad input.</summary>
    public const int ExitBadInput = ExitCodes.Error;

    /// <summary>Exit code when a hang (any verdict but healthy) was found.</summary>
    public const int ExitHang = ExitCodes.Found;

    /// <summary>Builds the command, writing to <paramref name="output"/> and <paramref name="error"/> (default: the invocation's writers).</summary>
    public static Command Build(TextWriter? output = null, TextWriter? error = null)
    {
        Option<FileInfo> ram = CliOption.InputFile("--ram", "raw guest RAM dump (QEMU pmemsave)");
        ram.Required = true;
        var ramBase = new Option<string>("--ram-base") { Description = "guest-physical address of the dump's first byte (decimal or 0x hex)", DefaultValueFactory = _ => "0" };
        Option<FileInfo> queueStatus = CliOption.InputFile("--queue-status", "x-query-virtio-queue-status reply (with or without \"return\")");
        queueStatus.Required = true;
        Option<FileInfo> virtioStatus = CliOption.InputFile("--virtio-status", "x-query-virtio-status reply: EVENT_IDX is read from the guest features");
        Option<string?> eventIdx = CliOption.Bool("--event-idx", "whether VIRTIO_RING_F_EVENT_IDX was negotiated (true|false), instead of --virtio-status", null);
        var format = OutputFormat.Create("output format");

        var command = new Command("analyze", "Why is a virtqueue stuck? Analyse a RAM dump with the queue's QMP status")
        {
            ram, ramBase, queueStatus, virtioStatus, eventIdx, format.Format, format.Json,
        };
        command.SetAction(parse =>
        {
            TextWriter stdout = output ?? parse.InvocationConfiguration.Output;
            TextWriter stderr = error ?? parse.InvocationConfiguration.Error;
            if (format.Resolve(parse, stderr, "analyze") is not { } fmt)
            {
                return ExitBadInput;
            }

            try
            {
                FileInfo? virtioStatusFile = parse.GetValue(virtioStatus);
                bool? eventIdxValue = parse.GetBoolean(eventIdx);
                if (virtioStatusFile is not null && eventIdxValue is not null)
                {
                    throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, "give --virtio-status or --event-idx, not both");
                }

                HangReport report = DumpAnalysis.AnalyzeFiles(
                    parse.GetValue(ram)!.FullName,
                    DumpAnalysis.ParseAddress(parse.GetValue(ramBase)!),
                    parse.GetValue(queueStatus)!.FullName,
                    virtioStatusFile?.FullName,
                    eventIdxValue);
                stdout.Write(fmt == "json" ? report.ToJson(indented: true) + "\n" : report.ToText());
                stdout.Flush();
                return report.IsHang ? ExitHang : ExitHealthy;
            }
            catch (DiagnosticInputException e)
            {
                stderr.WriteLine($"virtio analyze: {Program.OneLine(e.Message)}");
                return ExitBadInput;
            }
        });
        return command;
    }
}
