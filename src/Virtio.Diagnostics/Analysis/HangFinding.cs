namespace Virtio.Diagnostics;

/// <summary>One answered question of the hang analysis, with the numbers behind it.</summary>
/// <param name="Question">The question.</param>
/// <param name="Answer">The answer.</param>
/// <param name="Count">How many buffers the answer concerns (unseen, in use, unconsumed); 0 when none.</param>
/// <param name="Detail">The indexes compared and what they mean, naming the QEMU/Linux functions involved.</param>
public sealed record HangFinding(HangQuestion Question, FindingAnswer Answer, int Count, string Detail);
