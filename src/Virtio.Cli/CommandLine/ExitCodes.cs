namespace Virtio.Cli.CommandLine;

/// <summary>
/// The exit codes of every <c>virtio</c> command, one table for all of them (printed by every <c>--help</c> and in the
/// README): a script can tell "I called it wrong" (1) from "it worked and found a problem" (2).
/// </summary>
internal static class ExitCodes
{
    // What each one means is the table below.
    public const int Success = 0, Error = 1, Found = 2;

    public const string Table =
        "Exit codes (every virtio command):\n" +
        "  0  success: healthy, every verdict as expected, every reply received\n" +
        "  1  bad input, or an error that kept the command from doing its job (one line on stderr)\n" +
        "  2  it ran and found a problem: a hang, a verdict that did not match, a peer that did not answer, a failed request\n";
}
