using System.Text.Json;
using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>A QMP success reply: <c>{"return": ...}</c>.</summary>
internal sealed record QmpReturn<T>([property: JsonPropertyName("return")] T Return);

/// <summary>Reading saved QMP replies: the <c>return</c> wrapper, error replies, and JSON errors as typed errors.</summary>
internal static class QmpJson
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { AllowTrailingCommas = false, MaxDepth = 64 };

    public static JsonDocument ParseDocument(string json, string what)
    {
        try
        {
            return JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.MalformedJson, $"{what}: not JSON: {e.Message}", e);
        }
    }

    /// <summary>The object inside <c>{"return": ...}</c>, or the root itself when it is not wrapped.</summary>
    public static JsonElement UnwrapReturn(JsonElement root, string what)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.MalformedJson, $"{what}: expected a JSON object, found {root.ValueKind}");
        }

        if (root.TryGetProperty("error", out JsonElement error))
        {
            string desc = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("desc", out JsonElement d) && d.ValueKind == JsonValueKind.String
                ? d.GetString()!
                : error.ToString();
            throw new DiagnosticInputException(DiagnosticInputErrorKind.QmpError, $"{what}: QEMU replied with an error: {desc}");
        }

        if (root.TryGetProperty("return", out JsonElement body))
        {
            if (body.ValueKind != JsonValueKind.Object)
            {
                throw new DiagnosticInputException(DiagnosticInputErrorKind.MalformedJson, $"{what}: \"return\" is {body.ValueKind}, expected an object");
            }

            return body;
        }

        return root;
    }

    public static DiagnosticInputException Describe(JsonException e, string what)
    {
        // System.Text.Json's messages name .NET types ("could not be converted to Virtio.Diagnostics.QueueStatus");
        // say instead which field is missing or holds the wrong kind of value, in the reply's own names.
        const string Including = "including: ";
        int list = e.Message.IndexOf(Including, StringComparison.Ordinal);
        if (e.Message.Contains("missing required properties", StringComparison.Ordinal) && list >= 0)
        {
            string names = e.Message[(list + Including.Length)..].TrimEnd('.', ' ');
            return new DiagnosticInputException(DiagnosticInputErrorKind.MissingField, $"{what}: missing field(s) {names}", e);
        }

        string field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? string.Empty : e.Path.StartsWith("$.", StringComparison.Ordinal) ? e.Path[2..] : e.Path;
        return new DiagnosticInputException(
            DiagnosticInputErrorKind.MalformedJson,
            field.Length == 0 ? $"{what}: not the expected JSON object" : $"{what}: field '{field}' holds a value of the wrong kind or out of range",
            e);
    }
}
