namespace Virtio.Diagnostics;

/// <summary>A request the driver (the caller) considers in flight: its head, its descriptors and how long it has waited.</summary>
/// <param name="Head">The head descriptor index the driver made available.</param>
/// <param name="Descriptors">The chain's descriptors in chain order.</param>
/// <param name="Age">How long ago the driver made it available.</param>
public sealed record InFlightRequest(ushort Head, IReadOnlyList<VringDescriptor> Descriptors, TimeSpan Age);
