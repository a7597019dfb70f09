/* main.c: `quench` and its subcommands (argument parsing only; the work is in the modules). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "qn_job.h"

static const char *usage =
    "usage: quench <command> [options]\n"
    "\n"
    "quench runs a model-compression study (PTQ/QAT sweeps, pruning sweeps) from a YAML job file\n"
    "as one MPI job, and keeps every result in one HDF5 file.\n"
    "\n"
    "commands:\n"
    "  run JOB -o FILE      run a study (alone, or under mpirun: rank 0 coordinates, the others work)\n"
    "  validate JOB         check a job file and print its stages, trial counts and plan\n"
    "  ls FILE              status counts, best trial per stage, and the table of trials\n"
    "  export FILE --csv    the trial table as CSV\n"
    "  report FILE          figures (accuracy vs width and sparsity, loss curves, best so far,\n"
    "                       per-layer formats) and index.html\n"
    "  quantize -f SPEC IN.npy OUT.npy   fake-quantize an array in any format (docs/formats.md)\n"
    "  eval --model M ...   a Hugging Face BERT directory or FILE.h5:/trial/ID: logits on token ids\n"
    "                       (.npy in and out) or accuracy on a dataset (--data)\n"
    "  generate --model DIR ...   a Hugging Face decoder (Llama, Phi-3, Phi-2) in float32: greedy\n"
    "                       generation with a KV cache, prefill logits, or --perplexity\n"
    "  submit JOB --gpus TYPE:N   write a Slurm batch script for the study and submit it\n"
    "  bench WHAT           kernels, train, sampler, schedule: speed against a reference measured\n"
    "                       in the same run (PyTorch, Optuna, memcpy, the lower bound)\n"
    "  tokenize --tokenizer FILE.json TEXT...   ids of TEXT with a Hugging Face tokenizer.json\n"
    "                       (--decode: ids to text)\n"
    "  devices              the devices this machine offers to workers\n"
    "\n"
    "options:\n"
    "  -h, --help           this help; `quench <command> --help` for a command's options\n"
    "  --version            print the version\n"
    "\n"
    "exit codes: 0 success, 1 internal failure, 2 bad input, 3 study finished with failed trials\n"
    "docs: README.md, docs/cli.md, docs/jobs.md, docs/results-format.md, docs/formats.md\n";

int qn_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int qn_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "quench: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see quench %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (qn_is_help(cmd)) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("quench %s\n", QUENCH_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"run", qn_cmd_run}, {"validate", qn_cmd_validate}, {"ls", qn_cmd_ls},
                    {"export", qn_cmd_export}, {"quantize", qn_cmd_quantize}, {"bench", qn_cmd_bench}, {"eval", qn_cmd_eval}, {"generate", qn_cmd_generate}, {"report", qn_cmd_report},
                    {"submit", qn_cmd_submit}, {"tokenize", qn_cmd_tokenize},
                    {"devices", qn_cmd_devices}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    const char *names[sizeof commands / sizeof commands[0]];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) names[i] = commands[i].name;
    const char *hint = qn_suggest(cmd, names, (int)(sizeof names / sizeof names[0]));
    if (hint)
        fprintf(stderr, "quench: unknown command '%s': did you mean '%s'? (see quench --help)\n", cmd, hint);
    else
        fprintf(stderr, "quench: unknown command '%s' (see quench --help)\n", cmd);
    return 2;
}
