namespace Virtio.Cli.Tests.Bench;

[Collection("Threads")]
public class RingBenchCommandTests
{
    [Fact]
    public void Command_line_rejects_bad_options_with_exit_code_1() =>
        Assert.Equal(1, Virtio.Cli.Program.Main(["bench", "ring", "--threads", "3"]));
}
