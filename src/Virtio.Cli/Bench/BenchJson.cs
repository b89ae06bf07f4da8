using System.Text.Json;

namespace Virtio.Cli.Bench;

/// <summary>The device benchmarks' one-object JSON output.</summary>
internal static class BenchJson
{
    /// <summary>Prints one JSON object whose fields <paramref name="fields"/> writes, and a newline, to <paramref name="output"/>.</summary>
    public static void Print(TextWriter output, Action<Utf8JsonWriter> fields)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            fields(w);
            w.WriteEndObject();
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }
}
