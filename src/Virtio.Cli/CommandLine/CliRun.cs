using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Virtio.Cli.CommandLine;

/// <summary>
/// One run of a command, and the way every command reports bad input (<c>virtio NAME: reason</c> on stderr, exit
/// code 1), so that each command's action holds only its library call and its printing.
/// </summary>
/// <param name="Parse">The parsed command line.</param>
/// <param name="Name">The command's name after <c>virtio</c>, which starts every error line.</param>
/// <param name="Out">Where results go.</param>
/// <param name="Error">Where the reason for a failure goes.</param>
/// <param name="Format">The format asked for (<c>text</c> for a command without <c>--format</c>).</param>
internal sealed record CliRun(ParseResult Parse, string Name, TextWriter Out, TextWriter Error, string Format)
{
    private const string LevelName = "--log-level", VerboseName = "--verbose";

    public bool Json => Format == "json";

    /// <summary>
    /// Sets <paramref name="command"/>'s action: resolve <paramref name="format"/> (two formats at once is bad input),
    /// then <paramref name="run"/>; <paramref name="output"/> and <paramref name="error"/> default to the invocation's.
    /// </summary>
    public static void SetAction(Command command, string name, OutputFormat? format, TextWriter? output, TextWriter? error, Func<CliRun, int> run) =>
        command.SetAction(parse => Start(parse, name, format, output, error) is { } r ? run(r) : ExitCodes.Error);

    public static void SetAction(Command command, string name, OutputFormat? format, TextWriter? output, TextWriter? error, Func<CliRun, CancellationToken, Task<int>> run) =>
        command.SetAction((parse, cancellationToken) => Start(parse, name, format, output, error) is { } r ? run(r, cancellationToken) : Task.FromResult(ExitCodes.Error));

    public T? Get<T>(Option<T> option) => Parse.GetValue(option);

    /// <summary>
    /// <c>--verbose</c> and <c>--log-level LEVEL</c>, recursive so that they work on the root and on every command:
    /// the libraries' <c>[LoggerMessage]</c> lines through Microsoft.Extensions.Logging.Console.
    /// </summary>
    public static void AddLoggingOptions(Command root)
    {
        Option level = CliOption.Choice(LevelName, "log the libraries' events at this level and above, on stderr; repro defaults to none, serve to information", "warning", "trace", "debug", "information", "warning", "error", "critical", "none");
        level.Recursive = true;
        root.Options.Add(level);
        root.Options.Add(new Option<bool>(VerboseName) { Description = "log at debug level: every vhost-user message, status change, ... (same as --log-level debug)", Recursive = true });
    }

    /// <summary>
    /// A logger factory at the level asked for (<paramref name="defaultLevel"/> when neither option is given;
    /// <c>--log-level</c> wins over <c>--verbose</c>), every line on stderr so that stdout (a table, JSON Lines)
    /// stays parseable.
    /// </summary>
    public ILoggerFactory Logging(LogLevel defaultLevel = LogLevel.Warning)
    {
        // The options are found on the command or an ancestor (none when a command is built and run without the root, as tests do).
        Option? Find(string name) => Program.Commands(Parse).SelectMany(c => c.Command.Options).FirstOrDefault(o => o.Name == name);
        LogLevel level = Find(LevelName) is Option<string> l && Parse.GetResult(l) is { Implicit: false }
            ? Enum.Parse<LogLevel>(Parse.GetValue(l)!, ignoreCase: true)
            : Find(VerboseName) is Option<bool> v && Parse.GetValue(v) ? LogLevel.Debug : defaultLevel;
        return LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })

            // Every level to stderr: the default sends information and below to stdout, into the command's output.
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(level));
    }

    /// <summary>Writes <c>virtio NAME: <paramref name="message"/></c> to stderr and returns <see cref="ExitCodes.Error"/>.</summary>
    public int Fail(string message)
    {
        Error.WriteLine($"virtio {Name}: {message}");
        return ExitCodes.Error;
    }

    /// <summary>Writes <paramref name="text"/> to stdout, flushes it and returns <paramref name="exit"/>.</summary>
    public int Print(string text, int exit)
    {
        Out.Write(text);
        Out.Flush();
        return exit;
    }

    // Null after writing the reason when --json and another --format were both given.
    private static CliRun? Start(ParseResult parse, string name, OutputFormat? format, TextWriter? output, TextWriter? error)
    {
        var run = new CliRun(parse, name, output ?? parse.InvocationConfiguration.Output, error ?? parse.InvocationConfiguration.Error, "text");
        if (format is null)
        {
            return run;
        }

        string? given = parse.GetResult(format.Format) is { Implicit: false } ? parse.GetValue(format.Format) : null;
        bool json = parse.GetValue(format.Json);
        if (json && given is not null and not "json")
        {
            run.Fail($"--json and --format {given} ask for two formats; give one");
            return null;
        }

        return run with { Format = json ? "json" : parse.GetValue(format.Format)! };
    }
}

/// <summary>
/// The output convention of every command that prints results: <c>--format text|json[|...]</c> (text the default) and
/// <c>--json</c>, its short form; asking for two formats at once is bad input.
/// </summary>
internal sealed record OutputFormat(Option<string> Format, Option<bool> Json)
{
    public static OutputFormat Create(string description, params string[] more) =>
        new(CliOption.Choice("--format", description, "text", ["text", "json", .. more]), new Option<bool>("--json") { Description = "same as --format json" });
}
