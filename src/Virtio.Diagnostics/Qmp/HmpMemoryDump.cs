using System.Globalization;

namespace Virtio.Diagnostics.Qmp;

/// <summary>
/// Parses what HMP <c>xp /Nhx ADDR</c> prints (QEMU's memory_dump): lines of
/// <c>0000000001edf000: 0x0000 0x00bb ...</c>, up to 8 halfwords each (16 bytes a line), each line ending in CR LF.
/// Strict: the addresses must be the ones asked for, in order, with exactly the words asked for; anything else
/// (<c>Cannot access memory</c>, another format) is an error naming the command and the reply, never a guess.
/// </summary>
public static class HmpMemoryDump
{
    /// <summary>The most halfwords one read asks for (a 32768-entry avail ring's slots fit).</summary>
    public const int MaxHalfwords = 65536;

    private const int WordsPerLine = 8;

    /// <summary>Parses the output of <paramref name="commandLine"/>, which read <paramref name="count"/> halfwords at <paramref name="address"/>.</summary>
    /// <exception cref="QmpException"><see cref="QmpErrorKind.UnexpectedHmpReply"/>: the output is not that dump.</exception>
    public static ushort[] ParseHalfwords(string commandLine, string output, ulong address, int count)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxHalfwords);
        var words = new ushort[count];
        int lines = (count + WordsPerLine - 1) / WordsPerLine;
        ReadOnlySpan<char> rest = output;
        for (int line = 0; line < lines; line++)
        {
            int end = rest.IndexOf("\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                throw Unexpected(commandLine, output, $"line {line + 1} does not end in CR LF");
            }

            ReadOnlySpan<char> text = rest[..end];
            rest = rest[(end + 2)..];
            ulong lineAddress = address + ((ulong)line * WordsPerLine * 2);
            int expected = Math.Min(WordsPerLine, count - (line * WordsPerLine));
            string prefix = lineAddress.ToString("x16", CultureInfo.InvariantCulture) + ":";
            if (!text.StartsWith(prefix, StringComparison.Ordinal))
            {
                throw Unexpected(commandLine, output, $"line {line + 1} does not start with the address {prefix}");
            }

            text = text[prefix.Length..];
            for (int i = 0; i < expected; i++)
            {
                // " 0x" and exactly four lower-case hex digits, as memory_dump prints a halfword with "%#*" PRIx64 padded.
                if (text.Length < 7 || text[0] != ' ' || text[1] != '0' || text[2] != 'x' || !IsHex(text.Slice(3, 4))
                    || !ushort.TryParse(text.Slice(3, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort value))
                {
                    throw Unexpected(commandLine, output, $"line {line + 1} does not hold halfword {i + 1} of {expected} as 0xNNNN");
                }

                words[(line * WordsPerLine) + i] = value;
                text = text[7..];
            }

            if (!text.IsEmpty)
            {
                throw Unexpected(commandLine, output, $"line {line + 1} holds more than the {expected} halfword(s) asked for");
            }
        }

        if (!rest.IsEmpty)
        {
            throw Unexpected(commandLine, output, "it goes on after the last halfword asked for");
        }

        return words;
    }

    private static bool IsHex(ReadOnlySpan<char> digits)
    {
        foreach (char c in digits)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }

    private static QmpException Unexpected(string commandLine, string output, string why)
    {
        string shown = output.Length <= 300 ? output : string.Concat(output.AsSpan(0, 300), "...");
        return new QmpException(QmpErrorKind.UnexpectedHmpReply,
            $"HMP \"{commandLine}\": unexpected output ({why}): \"{shown.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"")
        {
            Command = "human-monitor-command",
        };
    }
}
