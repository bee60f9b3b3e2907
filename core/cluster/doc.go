// Package cluster plays episodes past one machine: a run publishes its
// eval episodes and GRPO rollouts as work items on a NATS JetStream work
// queue, workers (`lathe worker`) on any number of machines take them,
// play them with their own local plugin processes and publish the
// trajectories back; training stays in the run.
//
// The pieces, all in JetStream:
//
//   - stream LATHE_WORK (work-queue retention), subjects lathe.work.<job>:
//     one message per work item (a rollout.Shard and the plugin blocks that
//     play it), taken by the durable consumer "lathe-workers" that every
//     worker pulls from. A worker tells the server it is still busy every
//     third of the consumer's AckWait; a worker that dies stops doing so and
//     its item is delivered again after AckWait.
//   - stream LATHE_RESULTS, subjects lathe.results.<job>: one message per
//     finished item, published with the item's id as Nats-Msg-Id so that a
//     second delivery inside the duplicate window is dropped by the server;
//     the run counts a shard once however often it arrives.
//   - object store lathe-weights: model checkpoints by the SHA-256 of their
//     files, uploaded once by the run, fetched and cached by each worker.
//   - key-value bucket lathe-workers: every worker's heartbeat (id, host,
//     slots, busy, episodes), which the run reads to show who is working and
//     to fail with a clear error when nobody is.
//
// Results do not depend on where shards are played: every shard carries a
// seed derived from the run's seed and its index (rollout.Split), a worker
// loads a shard's weights before playing it and never during it, and a
// shard's episodes are one Play call wherever it runs. Messages are gob:
// trajectories carry float64 log-probs, which may be -Inf.
//
// Credentials come from the environment, never from the experiment file:
// LATHE_NATS_USER and LATHE_NATS_PASSWORD, LATHE_NATS_TOKEN, or
// LATHE_NATS_CREDS (a .creds file); each *_PASSWORD and *_TOKEN may instead
// be read from the file named by the same variable with _FILE appended.
//
// The package does not start servers (see natsserver) and does not decide
// where workers run (see deploy).
package cluster
