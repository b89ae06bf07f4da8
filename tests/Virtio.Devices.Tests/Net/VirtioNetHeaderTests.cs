using Virtio.Devices.Net;
using Xunit;

namespace Virtio.Devices.Tests.Net;

public sealed class VirtioNetHeaderTests
{
    private static readonly byte[] Wire = [0x01, 0x03, 0x34, 0x12, 0xB4, 0x05, 0x22, 0x00, 0x10, 0x00, 0x02, 0x01];

    private static readonly VirtioNetHeader Parsed = new()
    {
        Flags = NetHeaderFlags.NeedsCsum,
        GsoType = (NetGsoType)3,
        HeaderLength = 0x1234,
        GsoSize = 1460,
        ChecksumStart = 34,
        ChecksumOffset = 16,
        BufferCount = 0x0102,
    };

    [Fact]
    public void Read_takes_every_field_little_endian_from_its_offset()
    {
        Assert.Equal(Parsed, VirtioNetHeader.Read(Wire));
        Assert.Equal(Parsed, VirtioNetHeader.Read([.. Wire, 0xFF, 0xFF])); // bytes past the header are not read
    }

    [Fact]
    public void Write_puts_every_field_at_its_offset_and_touches_nothing_past_the_header()
    {
        byte[] buffer = Enumerable.Repeat((byte)0xEE, VirtioNetHeader.Size + 2).ToArray();
        Parsed.Write(buffer);
        Assert.Equal(Wire, buffer[..VirtioNetHeader.Size]);
        Assert.Equal([0xEE, 0xEE], buffer[VirtioNetHeader.Size..]);
    }

    [Fact]
    public void Spans_shorter_than_the_header_are_refused()
    {
        Assert.Throws<ArgumentException>(() => VirtioNetHeader.Read(new byte[VirtioNetHeader.Size - 1]));
        Assert.Throws<ArgumentException>(() => Parsed.Write(new byte[VirtioNetHeader.Size - 1]));
    }
}
