#include "config.h"

#include "tools/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/xalloc.h"

extern char **environ;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void process_close_pipe(struct loop *loop, int *fd, uint64_t *watch)
{
    if (*watch)
        loop_unwatch(loop, *watch);
    *watch = 0;
    close_fd(fd);
}

static void close_pipes(int (*pipes)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        close_fd(&pipes[i][0]);
        close_fd(&pipes[i][1]);
    }
}

static void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* In the child: default signal handling, our stdio, and the program. */
static _Noreturn void exec_child(char *const argv[], char *const envp[], int (*pipes)[2], const sigset_t *mask)
{
    int error;

    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    setpgid(0, 0);
    dup2(pipes[0][0], STDIN_FILENO);
    dup2(pipes[1][1], STDOUT_FILENO);
    dup2(pipes[2][1], STDERR_FILENO);
    execvpe(argv[0], argv, envp ? envp : environ);
    error = errno;
    (void)!write(pipes[3][1], &error, sizeof error);
    _exit(127);
}

/* Our environment without the API key (a new array of environ's strings):
 * no child process gets the key. */
static char **environment_without_key(void)
{
    static const char key[] = "MISTRAL_API_KEY=";
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = xcalloc(n + 1, sizeof *env);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], key, sizeof key - 1) != 0)
            env[k++] = environ[i];
    return env;
}

bool process_spawn(struct process *p, char *const argv[], char *const envp[], char **error)
{
    char **own_env = envp ? NULL : environment_without_key();
    /* stdin, stdout, stderr, and the exec report; all close on exec. */
    int pipes[4][2] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    sigset_t all, saved;
    int child_errno = 0;
    pid_t pid;

    p->pid = -1;
    p->in_fd = p->out_fd = p->err_fd = -1;
    for (size_t i = 0; i < 4; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) < 0) {
            *error = xasprintf("cannot create a pipe: %s", strerror(errno));
            close_pipes(pipes, 4);
            return false;
        }
    }
    /* No handler of ours may run in the child before exec. */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved);
    pid = fork();
    if (pid == 0)
        exec_child(argv, envp ? envp : own_env, pipes, &saved);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    free(own_env);
    if (pid < 0) {
        *error = xasprintf("cannot start: %s", strerror(errno));
        close_pipes(pipes, 4);
        return false;
    }
    setpgid(pid, pid); /* both sides set it: no race with kill(-pid) */
    close_fd(&pipes[0][0]);
    close_fd(&pipes[1][1]);
    close_fd(&pipes[2][1]);
    close_fd(&pipes[3][1]);
    /* The report pipe closes on a successful exec; otherwise it holds errno. */
    while (read(pipes[3][0], &child_errno, sizeof child_errno) < 0 && errno == EINTR)
        ;
    close_fd(&pipes[3][0]);
    if (child_errno) {
        /* It exits at once: reap it here, nobody else knows of it. */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        *error = xasprintf("cannot run %s: %s", argv[0], strerror(child_errno));
        close_pipes(pipes, 3);
        return false;
    }
    p->pid = pid;
    p->in_fd = pipes[0][1];
    p->out_fd = pipes[1][0];
    p->err_fd = pipes[2][0];
    set_nonblocking(p->in_fd);
    set_nonblocking(p->out_fd);
    set_nonblocking(p->err_fd);
    return true;
}
