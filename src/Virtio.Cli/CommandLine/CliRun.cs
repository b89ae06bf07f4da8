using System.CommandLine;
using Microsoft.Extensions.Logging;

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
    /// <summary>Whether JSON was asked for.</summary>
    public bool Json => Format == "json";

    /// <summary>
    /// Sets <paramref name="command"/>'s action: resolve <paramref name="format"/> (two formats at once is bad input),
    /// then <paramref name="run"/>; <paramref name="output"/> and <paramref name="error"/> default to the invocation's.
    /// </summary>
    public static void SetAction(Command command, string name, OutputFormat? format, TextWriter? output, TextWriter? error, Func<CliRun, int> run) =>
        command.SetAction(parse => Start(parse, name, format, output, error) is { } r ? run(r) : ExitCodes.Error);

    /// <summary>The asynchronous form of <see cref="SetAction(Command, string, OutputFormat?, TextWriter?, TextWriter?, Func{CliRun, int})"/>.</summary>
    public static void SetAction(Command command, string name, OutputFormat? format, TextWriter? output, TextWriter? error, Func<CliRun, CancellationToken, Task<int>> run) =>
        command.SetAction((parse, cancellationToken) => Start(parse, name, format, output, error) is { } r ? run(r, cancellationToken) : Task.FromResult(ExitCodes.Error));

    /// <summary>The value of <paramref name="option"/>.</summary>
    public T? Get<T>(Option<T> option) => Parse.GetValue(option);

    /// <summary>A logger factory at the level <c>--log-level</c>/<c>--verbose</c> ask for (<see cref="CliLogging.Create"/>).</summary>
    public ILoggerFactory Logging(LogLevel defaultLevel = LogLevel.Warning) => CliLogging.Create(Parse, defaultLevel);

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

    private static CliRun? Start(ParseResult parse, string name, OutputFormat? format, TextWriter? output, TextWriter? error)
    {
        TextWriter stderr = error ?? parse.InvocationConfiguration.Error;
        string? resolved = format is null ? "text" : format.Resolve(parse, stderr, name);
        return resolved is null ? null : new CliRun(parse, name, output ?? parse.InvocationConfiguration.Output, stderr, resolved);
    }
}
