using System.CommandLine;

namespace Virtio.Cli.CommandLine;

/// <summary>
/// The output convention of every command that prints results: <c>--format text|json[|...]</c> (text the default) and
/// <c>--json</c>, its short form; asking for two formats at once is bad input.
/// </summary>
/// <param name="Format">The <c>--format</c> option.</param>
/// <param name="Json">The <c>--json</c> option.</param>
internal sealed record OutputFormat(Option<string> Format, Option<bool> Json)
{
    /// <summary>Both options, <c>--format</c> taking text, json and <paramref name="more"/>.</summary>
    public static OutputFormat Create(string description, params string[] more) =>
        new(CliOption.Choice("--format", description, "text", ["text", "json", .. more]), new Option<bool>("--json") { Description = "same as --format json" });

    /// <summary>The format asked for, or null after writing the reason to <paramref name="error"/> when <c>--json</c> and another <c>--format</c> were both given.</summary>
    public string? Resolve(ParseResult parse, TextWriter error, string command)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(error);
        string? given = parse.GetResult(Format) is { Implicit: false } ? parse.GetValue(Format) : null;
        if (parse.GetValue(Json) && given is not null and not "json")
        {
            error.WriteLine($"virtio {command}: --json and --format {given} ask for two formats; give one");
            return null;
        }

        return parse.GetValue(Json) ? "json" : parse.GetValue(Format)!;
    }
}
