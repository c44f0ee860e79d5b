/**
 * The V8 flags the server runs with. `./berth` and the shebang of main.ts pass the same list
 * (they cannot import it); the bench and the tests start the server with it from here.
 *
 * - `--no-memory-reducer`: after a minute idle, V8's memory reducer left the heap so small that
 *   garbage collection took half of a 2-core machine for good (manifest pushes 750 → 370/s).
 * - `--initial-old-space-size=128`: no full collection while the old generation is below 128 MiB
 *   (the embedder-set initial size is also V8's floor). Berth's live heap is ~27 MiB, and V8 set
 *   its limit at ~51: with less room left than the young generation's 16 MiB, V8 started the next
 *   full marking as soon as the last had ended. During chunked pushes that was one full
 *   collection every ~100 ms (38 per GiB, ~1.5 ms of CPU per MiB on its threads; the bare server,
 *   with a 4 MiB heap, had one). Upload bodies are garbage the young generation collects, so the
 *   old generation hardly grows: one full collection in 3 GiB with the floor. Its price is up to
 *   ~100 MiB of heap a small server may hold before collecting, which a registry can spare.
 */
export const serverNodeFlags = ['--no-memory-reducer', '--initial-old-space-size=128'];
