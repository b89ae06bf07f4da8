using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Virtio.Cli.CommandLine;

/// <summary>
/// <c>--verbose</c> and <c>--log-level LEVEL</c>, on every command: the libraries' <c>[LoggerMessage]</c> lines through
/// Microsoft.Extensions.Logging.Console, all of them on stderr so that stdout (a table, JSON Lines) stays parseable.
/// </summary>
internal static class CliLogging
{
    private const string LevelName = "--log-level";
    private const string VerboseName = "--verbose";

    private static readonly string[] Levels = ["trace", "debug", "information", "warning", "error", "critical", "none"];

    /// <summary>Both options, recursive: given on the root or on any subcommand.</summary>
    public static IEnumerable<Option> Options() =>
    [
        Recursive(CliOption.Choice(LevelName, "log the libraries' events at this level and above, on stderr; repro defaults to none, serve to information", "warning", Levels)),
        Recursive(new Option<bool>(VerboseName) { Description = "log at debug level: every vhost-user message, status change, ... (same as --log-level debug)" }),
    ];

    /// <summary>
    /// A logger factory at the level asked for (<paramref name="defaultLevel"/> when neither option is given);
    /// <c>--log-level</c> wins over <c>--verbose</c>.
    /// </summary>
    public static ILoggerFactory Create(ParseResult parse, LogLevel defaultLevel = LogLevel.Warning)
    {
        ArgumentNullException.ThrowIfNull(parse);
        Option? levelOption = Find(parse, LevelName), verboseOption = Find(parse, VerboseName);
        LogLevel level = levelOption is Option<string> l && parse.GetResult(l) is { Implicit: false }
            ? Enum.Parse<LogLevel>(parse.GetValue(l)!, ignoreCase: true)
            : verboseOption is Option<bool> v && parse.GetValue(v) ? LogLevel.Debug : defaultLevel;
        return LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })

            // Every level to stderr: the default sends information and below to stdout, into the command's output.
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(level));
    }

    /// <summary>The option on the command or an ancestor (none when a command is built and run without the root, as tests do).</summary>
    private static Option? Find(ParseResult parse, string name) =>
        Program.Commands(parse).SelectMany(c => c.Command.Options).FirstOrDefault(o => o.Name == name);

    private static Option Recursive(Option option)
    {
        option.Recursive = true;
        return option;
    }
}
