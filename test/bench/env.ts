// Imported first by run.ts: Powertools reads these when its singletons are built at import time.
// Logs and EMF output are off in the benchmark; they would measure the terminal, not the code.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_TRACE_ENABLED = 'false';
