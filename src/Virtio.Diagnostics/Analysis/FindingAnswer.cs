using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>The answer to one <see cref="HangQuestion"/>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FindingAnswer>))]
public enum FindingAnswer
{
    /// <summary>Yes.</summary>
    [JsonStringEnumMemberName("yes")]
    Yes = 0,

    /// <summary>No: this is where requests stop.</summary>
    [JsonStringEnumMemberName("no")]
    No,

    /// <summary>The ring state cannot answer (no EVENT_IDX, unknown negotiation, callbacks disabled).</summary>
    [JsonStringEnumMemberName("cannot-tell")]
    CannotTell,

    /// <summary>The indexes break a ring rule, so the question has no meaningful answer.</summary>
    [JsonStringEnumMemberName("ring-violation")]
    RingViolation,
}
