using System.CommandLine;
using System.Text.RegularExpressions;

namespace Virtio.Cli.Tests;

/// <summary>Every command's <c>--help</c>: each option states its default, and values read in lowercase.</summary>
public sealed partial class HelpTests
{
    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        Add(Program.BuildRoot(), string.Empty);
        return data;

        void Add(Command command, string path)
        {
            if (command.Subcommands.Count == 0)
            {
                data.Add(path.Trim());
            }

            foreach (Command sub in command.Subcommands)
            {
                Add(sub, path + " " + sub.Name);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_option_shows_its_default_in_lowercase_or_is_required(string command)
    {
        (int exit, string help, _) = VirtioCommand.Run([.. command.Split(' '), "--help"]);

        Assert.Equal(0, exit);
        string options = help[help.IndexOf("Options:", StringComparison.Ordinal)..help.IndexOf("Exit codes", StringComparison.Ordinal)];

        // One entry per option: its first line starts with "  -", wrapped description lines are indented further.
        string[] entries = OptionStart().Split(options).Select(e => Regex.Replace(e, @"\s+", " ").Trim()).Where(e => e.StartsWith('-')).ToArray();
        Assert.NotEmpty(entries);
        foreach (string entry in entries.Where(e => !e.StartsWith("-?", StringComparison.Ordinal) && !e.StartsWith("--version", StringComparison.Ordinal)))
        {
            Assert.True(entry.Contains("[default: ", StringComparison.Ordinal) || entry.Contains("(REQUIRED)", StringComparison.Ordinal), $"virtio {command}: {entry}");
            Assert.DoesNotMatch(@"\[default: [A-Z]", entry);
        }
    }

    [GeneratedRegex(@"\n(?=  -)")]
    private static partial Regex OptionStart();
}
