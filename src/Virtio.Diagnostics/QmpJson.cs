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
        // System.Text.Json reports absent required members in one message; keep its list of names.
        bool missing = e.Message.Contains("missing required properties", StringComparison.Ordinal);
        string where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? string.Empty : $" at {e.Path}";
        return new DiagnosticInputException(
            missing ? DiagnosticInputErrorKind.MissingField : DiagnosticInputErrorKind.MalformedJson,
            $"{what}{where}: {e.Message}",
            e);
    }
}
