using System.CommandLine;
using Virtio.Cli.CommandLine;
using Virtio.Diagnostics;

namespace Virtio.Cli.Analyze;

/// <summary><c>virtio analyze</c>: the offline hang analysis of <see cref="DumpAnalysis"/> on a RAM dump and saved QMP replies.</summary>
internal static class AnalyzeCommand
{
    /// <summary>The exit codes (<see cref="ExitCodes"/>): healthy; bad input; a hang (any verdict but healthy) was found.</summary>
    public const int ExitHealthy = ExitCodes.Success, ExitBadInput = ExitCodes.Error, ExitHang = ExitCodes.Found;

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
        CliRun.SetAction(command, "analyze", format, output, error, run =>
        {
            try
            {
                FileInfo? virtioStatusFile = run.Get(virtioStatus);
                bool? eventIdxValue = run.Parse.GetBoolean(eventIdx);
                if (virtioStatusFile is not null && eventIdxValue is not null)
                {
                    throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, "give --virtio-status or --event-idx, not both");
                }

                HangReport report = DumpAnalysis.AnalyzeFiles(
                    run.Get(ram)!.FullName,
                    DumpAnalysis.ParseAddress(run.Get(ramBase)!),
                    run.Get(queueStatus)!.FullName,
                    virtioStatusFile?.FullName,
                    eventIdxValue);
                return run.Print(run.Json ? report.ToJson(indented: true) + "\n" : report.ToText(), report.IsHang ? ExitHang : ExitHealthy);
            }
            catch (DiagnosticInputException e)
            {
                return run.Fail(Program.OneLine(e.Message));
            }
        });
        return command;
    }
}
