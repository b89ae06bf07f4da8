using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Virtio.Cli.Bench;
using Virtio.Cli.CommandLine;

namespace Virtio.Cli;

internal static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs the command with <paramref name="args"/>, printing to <paramref name="output"/> and <paramref name="error"/>.
    /// Every failure ends as exit code 1 and one line on <paramref name="error"/> (no stack trace, no usage dump):
    /// a value the parser refused, a command that refused its input, or, as a last resort, an exception nobody
    /// expected (a bug: the line says so).
    /// </summary>
    /// <returns>An exit code from <see cref="ExitCodes"/>.</returns>
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        RootCommand root = BuildRoot();
        ParseResult parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            // The most specific error first: "virtio nosuch" is an unknown word before it is a missing command.
            ParseError first = parse.Errors.OrderBy(e => e.Message.StartsWith("Required command", StringComparison.Ordinal)).First();
            error.WriteLine($"{CommandPath(parse)}: {OneLine(first.Message)} (see {CommandPath(parse)} --help)");
            return ExitCodes.Error;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"{CommandPath(parse)}: internal error ({OneLine(e.Message)}); please report it with the command line");
            return ExitCodes.Error;
        }
    }

    // The exit-code table is added to every --help.
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("virtio: a VIRTIO split-virtqueue emulator — benchmarks and diagnostics")
        {
            Repro.ReproCommand.Build(),
            new Command("bench", "Measure throughput") { RingBenchCommand.Build(), BlkBenchCommand.Build(), NetBenchCommand.Build() },
            Analyze.AnalyzeCommand.Build(),
            Ping.PingCommand.Build(),
            Diagnose.DiagnoseCommand.Build(),
            Serve.ServeCommand.Build(),
            Stress.StressCommand.Build(),
        };
        CliRun.AddLoggingOptions(root);
        ShowDefaults(root);
        foreach (HelpOption help in root.Options.OfType<HelpOption>())
        {
            help.Action = new HelpWithExitCodes((HelpAction)help.Action!);
        }

        return root;
    }

    /// <summary>
    /// Every option's help shows its default: the parser prints <c>[default: X]</c> for the options that have a
    /// default value; the others, switches (off unless given) and optional inputs (absent unless given), say so in
    /// the same form, so no option reads as if it had to be given.
    /// </summary>
    private static void ShowDefaults(Command command)
    {
        foreach (Option option in command.Options)
        {
            // The parser shows no default for a switch (its implicit false) nor for a null one.
            object? value = option.HasDefaultValue ? option.GetDefaultValue() : null;
            if (option is not (HelpOption or VersionOption) && !option.Required && value is null or bool)
            {
                option.Description += value is true ? " [default: true]" : option.ValueType == typeof(bool) ? " [default: false]" : " [default: none]";
            }
        }

        foreach (Command sub in command.Subcommands)
        {
            ShowDefaults(sub);
        }
    }

    // Parser messages can list choices on several lines.
    internal static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string CommandPath(ParseResult parse) =>
        string.Join(' ', Commands(parse).Reverse().Select(c => c.Parent is null ? "virtio" : c.Command.Name));

    // The command that runs, then each command above it up to the root.
    internal static IEnumerable<CommandResult> Commands(ParseResult parse)
    {
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent)
        {
            yield return c;
        }
    }

    private sealed class HelpWithExitCodes(HelpAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            int code = help.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(ExitCodes.Table);
            return code;
        }
    }
}
