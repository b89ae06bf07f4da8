using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Virtio.Workloads.Stress;

/// <summary>How <c>virtio stress</c> prints a <see cref="RingStressResult"/>: text for a person, one JSON object for a script.</summary>
public static class RingStressReport
{
    /// <summary>The result for a person: the figures, then the verdict (and, on a failure, where and why).</summary>
    public static string ToText(RingStressResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.Append(c, $"stress: seed {result.Seed}, {result.Buffers:N0} buffers over {result.Seeds} seeds\n");
        s.Append(c, $"  returned        {result.Returned,15:N0}\n");
        s.Append(c, $"  taken back      {result.TakenBackAtReset,15:N0}  (outstanding at a device reset, each where the accounting said)\n");
        s.Append(c, $"  resets          {result.Resets,15:N0}  device resets (both sides)\n");
        s.Append(c, $"  restarts        {result.Restarts,15:N0}  device-side restarts (SetState + resubmitted heads)\n");
        s.Append(c, $"  wraps crossed   {result.WrapsCrossed,15:N0}\n");
        s.Append(c, $"  kicks           {result.Kicks,15:N0}\n");
        s.Append(c, $"  calls           {result.Calls,15:N0}\n");
        s.Append(c, $"  rate            {result.BuffersPerSecond,15:N0}  buffers/s\n");
        s.Append(c, $"  elapsed         {result.Elapsed.TotalSeconds,15:F2}  s\n");
        if (result.Failure is not { } f)
        {
            s.Append("result: nothing lost\n");
            return s.ToString();
        }

        s.Append(c, $"result: FAILED ({KindName(f.Kind)}) in {f.Configuration}\n");
        s.Append(c, $"  {(f.Serial >= 0 ? $"buffer {f.Serial}: " : "")}{f.Message}\n");
        if (f.QueueReport is { } report)
        {
            s.Append(report);
            if (!report.EndsWith('\n'))
            {
                s.Append('\n');
            }
        }

        return s.ToString();
    }

    /// <summary>The result as one JSON object (camelCase), without a trailing newline.</summary>
    public static string ToJson(RingStressResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("seed", result.Seed);
            w.WriteNumber("buffers", result.Buffers);
            w.WriteNumber("returned", result.Returned);
            w.WriteNumber("takenBackAtReset", result.TakenBackAtReset);
            w.WriteNumber("seeds", result.Seeds);
            w.WriteNumber("resets", result.Resets);
            w.WriteNumber("restarts", result.Restarts);
            w.WriteNumber("wrapsCrossed", result.WrapsCrossed);
            w.WriteNumber("kicks", result.Kicks);
            w.WriteNumber("calls", result.Calls);
            w.WriteNumber("buffersPerSecond", Math.Round(result.BuffersPerSecond));
            w.WriteNumber("elapsedSeconds", Math.Round(result.Elapsed.TotalSeconds, 3));
            w.WriteBoolean("passed", result.Passed);
            if (result.Failure is { } f)
            {
                w.WriteStartObject("failure");
                w.WriteString("kind", KindName(f.Kind));
                w.WriteNumber("seedIndex", f.SeedIndex);
                w.WriteString("seedKey", string.Create(CultureInfo.InvariantCulture, $"0x{f.SeedKey:x16}"));
                w.WriteString("configuration", f.Configuration);
                w.WriteNumber("serial", f.Serial);
                w.WriteString("message", f.Message);
                w.WriteString("queueReport", f.QueueReport);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("failure");
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A progress line for a long run.</summary>
    public static string ProgressLine(RingStressProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        return string.Create(CultureInfo.InvariantCulture,
            $"stress: {progress.Buffers:N0} of {progress.Total:N0} buffers ({100.0 * progress.Buffers / progress.Total:F1}%), {progress.Seeds} seeds, {progress.BuffersPerSecond:N0} buffers/s, {progress.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary>The failure kind's stable name (kebab-case), as the JSON and the text print it.</summary>
    public static string KindName(RingStressFailureKind kind) => kind switch
    {
        RingStressFailureKind.Lost => "lost",
        RingStressFailureKind.Duplicate => "duplicate",
        RingStressFailureKind.WrongLength => "wrong-length",
        RingStressFailureKind.DataCorrupted => "data-corrupted",
        RingStressFailureKind.WrongChain => "wrong-chain",
        RingStressFailureKind.Stall => "stall",
        RingStressFailureKind.QueueBroken => "queue-broken",
        RingStressFailureKind.ResetAccounting => "reset-accounting",
        _ => "exception",
    };
}
