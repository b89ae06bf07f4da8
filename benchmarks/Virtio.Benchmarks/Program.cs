using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Virtio.Benchmarks;

/// <summary>
/// Runs the benchmarks: <c>dotnet run -c Release --project benchmarks/Virtio.Benchmarks -- --filter '*'</c>.
/// Exit code 0 only when every selected benchmark was built and ran; 1 when any did not (CI fails on it).
/// </summary>
public static class Program
{
    /// <summary>
    /// How long BenchmarkDotNet may take to build one generated project. Its default (2 minutes) is too short when
    /// CI shares two cores with other builds: the build was killed, no benchmark ran, and the run still looked green.
    /// The benchmarks stay out of process (the default toolchain), so a dry run still proves that the generated
    /// projects build with this repository's Directory.Build.props (warnings as errors, analyzers), as a real run does.
    /// </summary>
    public static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(20);

    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        IConfig config = ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(BuildTimeout);
        Summary[] summaries = [.. BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config)];
        return ExitCode(summaries, Informational(args), Console.Error);
    }

    /// <summary>
    /// 0 when every benchmark case of every summary has a successful report (built, ran, no failed iteration) and
    /// none has a critical validation error; 1 otherwise, with a line on <paramref name="error"/> for each case that
    /// did not run. No summary at all is a failure too (a filter that selects nothing, or a build that never finished),
    /// unless the arguments only asked for information (<c>--list</c>, <c>--help</c>, <c>--info</c>, <c>--version</c>).
    /// </summary>
    public static int ExitCode(IReadOnlyList<Summary> summaries, bool informational, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        ArgumentNullException.ThrowIfNull(error);
        if (summaries.Count == 0)
        {
            if (informational)
            {
                return 0;
            }

            error.WriteLine("benchmarks: no benchmark ran (nothing matched the filter, or the run stopped before it started)");
            return 1;
        }

        int failed = 0, ran = 0;
        foreach (Summary summary in summaries)
        {
            if (summary.HasCriticalValidationErrors)
            {
                failed++;
                error.WriteLine($"benchmarks: {summary.Title}: critical validation errors: {string.Join("; ", summary.ValidationErrors.Where(e => e.IsCritical).Select(e => e.Message))}");
            }

            foreach (var benchmark in summary.BenchmarksCases)
            {
                BenchmarkReport? report = summary.Reports.FirstOrDefault(r => r.BenchmarkCase == benchmark);
                if (report is { Success: true })
                {
                    ran++;
                    continue;
                }

                failed++;
                string why = report is null ? "no report"
                    : !report.GenerateResult.IsGenerateSuccess ? "its project was not generated"
                    : !report.BuildResult.IsBuildSuccess ? $"its project did not build ({report.BuildResult.ErrorMessage})"
                    : report.ExecuteResults.Count == 0 ? "it was never run"
                    : "it failed while running";
                error.WriteLine($"benchmarks: {benchmark.DisplayInfo} did not run: {why}");
            }
        }

        if (ran == 0 && failed == 0)
        {
            error.WriteLine("benchmarks: no benchmark ran");
            return 1;
        }

        return failed == 0 ? 0 : 1;
    }

    private static bool Informational(string[] args) =>
        args.Any(a => a is "--list" or "--help" or "-h" or "-?" or "--info" or "--version");
}
