/*
 * containerd-shim-wasm-v1: the runtime binary containerd resolves for
 * runtime type io.containerd.wasm.v1.
 *
 * containerd runs it with `delete` after every task delete, not only after a
 * dead shim (closing a task's ttrpc connection fires containerd's dead-shim
 * cleanup, core/runtime/v2/shim.go), and waits for it. When the task was
 * deleted through the task API, the daemon left its answer in the bundle
 * (internal/deletemark: the file wasm-sandboxer-deleted, a serialized task
 * API DeleteResponse); this binary prints it and exits. Written in C and
 * linked statically so that costs a process start of about half a
 * millisecond: the same front in Go took 1.7 ms, the full runtime binary
 * 8.5 ms (docs/RATIONALE.md, "Why is containerd-shim-wasm-v1 a small front
 * for the daemon binary?").
 *
 * Every other call (start, a delete with cleanup to do, -info, -v, anything
 * it does not recognise) is handed to `wasm-sandboxer runtime-binary ARGS…`
 * (internal/runtimebin) by exec: same pid, same stdio, same environment.
 * The daemon binary is $WASM_SANDBOXER_BINARY, else the wasm-sandboxer next
 * to this binary, else wasm-sandboxer on PATH.
 *
 * Tested by front_test.go in the directory above.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORD "wasm-sandboxer-deleted"
#define RECORD_MAX 4096 /* internal/deletemark's bound */
#define DAEMON "wasm-sandboxer"
#define ROLE "runtime-binary"
#define BINARY_ENV "WASM_SANDBOXER_BINARY"

/* The flags of containerd's shim protocol (pkg/shim): with a value, and
 * without. */
static const char *value_flags[] = {"namespace", "id", "socket", "address", "publish-binary", "bundle", NULL};
static const char *bool_flags[] = {"debug", "v", "info", NULL};

static int in(const char *name, size_t n, const char **set) {
	for (; *set; set++)
		if (strlen(*set) == n && strncmp(*set, name, n) == 0)
			return 1;
	return 0;
}

/* parse finds the action and the -bundle value as Go's flag package would
 * read the arguments; 0 when they are not what containerd passes. */
static int parse(int argc, char **argv, const char **action, const char **bundle) {
	*action = NULL;
	*bundle = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			*action = a;
			return i == argc - 1; /* nothing may follow the action */
		}
		const char *name = a + 1;
		if (*name == '-')
			name++;
		if (*name == '\0' || *name == '-' || *name == '=')
			return 0;
		const char *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		if (in(name, n, bool_flags))
			continue; /* -debug, -debug=true: not read here */
		if (!in(name, n, value_flags))
			return 0;
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (v == NULL)
			return 0;
		if (n == 6 && strncmp(name, "bundle", 6) == 0)
			*bundle = v;
	}
	return 0; /* no action */
}

/* answer copies the bundle's delete record to stdout: 1 when it did, 0 when
 * there is no record, -1 (having said why) when it cannot be used. */
static int answer(const char *bundle) {
	char path[PATH_MAX];
	if (bundle == NULL || *bundle == '\0')
		bundle = "."; /* containerd runs delete in the bundle */
	if (snprintf(path, sizeof path, "%s/%s", bundle, RECORD) >= (int)sizeof path) {
		fprintf(stderr, "containerd-shim-wasm-v1: bundle path too long: %s\n", bundle);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "containerd-shim-wasm-v1: delete record %s: %s\n", path, strerror(errno));
		return -1;
	}
	char buf[RECORD_MAX + 1];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof buf - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "containerd-shim-wasm-v1: delete record %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > RECORD_MAX) {
			fprintf(stderr, "containerd-shim-wasm-v1: delete record %s: more than %d bytes\n", path, RECORD_MAX);
			close(fd);
			return -1;
		}
	}
	close(fd);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(STDOUT_FILENO, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			fprintf(stderr, "containerd-shim-wasm-v1: write the delete record: %s\n", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	return 1;
}

/* handoff execs the daemon binary's runtime-binary role with our arguments;
 * it returns only when no daemon binary could be run. */
static void handoff(int argc, char **argv) {
	char **args = calloc((size_t)argc + 2, sizeof *args);
	if (args == NULL) {
		fprintf(stderr, "containerd-shim-wasm-v1: out of memory\n");
		return;
	}
	args[0] = DAEMON;
	args[1] = ROLE;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	args[argc + 1] = NULL;

	const char *env = getenv(BINARY_ENV);
	if (env != NULL && *env != '\0') {
		execv(env, args);
		fprintf(stderr, "containerd-shim-wasm-v1: exec %s (from $%s): %s\n", env, BINARY_ENV, strerror(errno));
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		char next[PATH_MAX];
		if (slash != NULL) {
			*slash = '\0';
			if (snprintf(next, sizeof next, "%s/%s", self, DAEMON) < (int)sizeof next && access(next, X_OK) == 0) {
				execv(next, args);
				fprintf(stderr, "containerd-shim-wasm-v1: exec %s: %s\n", next, strerror(errno));
				return;
			}
		}
	}
	execvp(DAEMON, args);
	fprintf(stderr,
		"containerd-shim-wasm-v1: %s not found (looked next to this binary and on $PATH; set %s to its path): "
		"it does this runtime binary's work and must be installed with it\n",
		DAEMON, BINARY_ENV);
}

int main(int argc, char **argv) {
	const char *action, *bundle;
	if (parse(argc, argv, &action, &bundle) && strcmp(action, "delete") == 0) {
		int r = answer(bundle);
		if (r > 0)
			return 0;
		if (r < 0)
			return 1;
	}
	handoff(argc, argv);
	return 1;
}
