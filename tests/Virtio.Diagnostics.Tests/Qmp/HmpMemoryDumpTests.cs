using System.Text.Json;
using Virtio.Diagnostics.Qmp;
using Virtio.Diagnostics.Tests.Support;

namespace Virtio.Diagnostics.Tests.Qmp;

public class HmpMemoryDumpTests
{
    private const string Command = "xp /12hx 0x1f93000";

    private static string Output(string file)
    {
        using JsonDocument d = JsonDocument.Parse(LiveReference.Line(file));
        return d.RootElement.GetProperty("return").GetString()!;
    }

    private static QmpException Refused(string output, ulong address = 0x1f93000, int count = 12) =>
        Assert.Throws<QmpException>(() => HmpMemoryDump.ParseHalfwords(Command, output, address, count));

    [Fact]
    public void Qemu_7_2_xp_output_parses_eight_halfwords_a_line()
    {
        ushort[] words = HmpMemoryDump.ParseHalfwords(Command, Output("xp-12.json"), 0x1f93000, 12);
        Assert.Equal<ushort>([0, 0, 0, 0, 0x3008, 0xc1f9, 0x88c1, 0xffff, 0x3008, 0xc1f9, 0x88c1, 0xffff], words);
    }

    [Fact]
    public void Cannot_access_memory_is_refused_naming_the_command_and_the_reply()
    {
        QmpException e = Refused(Output("xp-unmapped.json"), 0xffffffffff0, 3);
        Assert.Equal(QmpErrorKind.UnexpectedHmpReply, e.Kind);
        Assert.Contains(Command, e.Message, StringComparison.Ordinal);
        Assert.Contains("Cannot access memory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_ending_in_a_bare_line_feed_are_refused() =>
        Refused(Output("xp-12.json").Replace("\r\n", "\n", StringComparison.Ordinal));

    [Fact]
    public void A_line_at_another_address_is_refused() =>
        Refused(Output("xp-12.json").Replace("0000000001f93010:", "0000000001f93020:", StringComparison.Ordinal));

    [Fact]
    public void Fewer_halfwords_than_asked_for_are_refused() =>
        Refused(Output("xp-12.json"), count: 13);

    [Fact]
    public void More_halfwords_than_asked_for_are_refused() =>
        Refused(Output("xp-12.json"), count: 11);

    [Fact]
    public void A_halfword_not_written_as_0x_and_four_hex_digits_is_refused() =>
        Refused(Output("xp-12.json").Replace("0x3008", "0x308", StringComparison.Ordinal));

    [Fact]
    public void Text_after_the_last_line_is_refused() =>
        Refused(Output("xp-12.json") + "(qemu) \r\n");
}
