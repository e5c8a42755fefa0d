// Preloaded into the server that `vicinity serve` starts. When the `vicinity` process goes away,
// even by SIGKILL, the IPC channel closes: the server then stops as on SIGTERM instead of living on.
process.channel?.unref();
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
