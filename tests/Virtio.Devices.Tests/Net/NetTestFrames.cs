using System.Buffers.Binary;

namespace Virtio.Devices.Tests.Net;

/// <summary>Frames that carry their sequence number in the first 4 bytes and a pattern derived from it after.</summary>
internal static class NetTestFrames
{
    public static byte[] Numbered(int sequence, int length)
    {
        byte[] frame = new byte[length];
        BinaryPrimitives.WriteInt32BigEndian(frame, sequence);
        for (int i = 4; i < length; i++)
        {
            frame[i] = (byte)((i * 31) + sequence + (i >> 8));
        }

        return frame;
    }

    /// <summary>The stream backend's wire format by hand: each frame behind its 4-byte big-endian length.</summary>
    public static byte[] OnTheWire(params byte[][] frames)
    {
        using var wire = new MemoryStream();
        Span<byte> prefix = stackalloc byte[4];
        foreach (byte[] frame in frames)
        {
            BinaryPrimitives.WriteInt32BigEndian(prefix, frame.Length);
            wire.Write(prefix);
            wire.Write(frame);
        }

        return wire.ToArray();
    }

    public static int SequenceOf(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt32BigEndian(frame);

    /// <summary>Asserts <paramref name="frames"/> are exactly <c>Numbered(i, lengths(i))</c> for i = 0, 1, ...</summary>
    public static void AssertSequence(IReadOnlyList<byte[]> frames, int count, Func<int, int> lengthOf)
    {
        Assert.Equal(count, frames.Count);
        for (int i = 0; i < count; i++)
        {
            Assert.True(SequenceOf(frames[i]) == i, $"frame {i} carries sequence {SequenceOf(frames[i])}");
            Assert.Equal(Numbered(i, lengthOf(i)), frames[i]);
        }
    }
}
