namespace Virtio.Devices.Tests.Support;

/// <summary>Recognisable test data: every 512-byte sector differs, and so do neighbouring bytes.</summary>
internal static class TestPattern
{
    public static byte[] Bytes(int length, byte seed)
    {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) + seed + (i >> 9));
        }

        return data;
    }
}
