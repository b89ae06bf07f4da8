namespace Virtio.Cli.CommandLine;

/// <summary>
/// The exit codes of every <c>virtio</c> command, one table for all of them (printed by every <c>--help</c> and in the
/// README): a script can tell "I called it wrong" (1) from "it worked and found a problem" (2).
/// </summary>
internal static class ExitCodes
{
    /// <summary>Success: the queue is healthy, every verdict was the expected one, every reply came back.</summary>
    public const int Success = 0;

    /// <summary>Bad input (the reason on stderr, one line), or an error that kept the command from doing its job.</summary>
    public const int Error = 1;

    /// <summary>The command ran and found a problem: a hang, a verdict that did not match, a peer that did not answer, a failed request.</summary>
    public const int Found = 2;

    /// <summary>The table as <c>--help</c> prints it.</summary>
    public const string Table =
        "Exit codes (every virtio command):\n" +
        "  0  success: healthy, every verdict as expected, every reply received\n" +
        "  1  bad input, or an error that kept the command from doing its job (one line on stderr)\n" +
        "  2  it ran and found a problem: a hang, a verdict that did not match, a peer that did not answer, a failed request\n";
}
