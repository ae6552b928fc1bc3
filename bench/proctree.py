"""
CPU time of a process tree, read from the processes' own counters in
/proc: the yardstick that a client-bound run cannot flatter.  A server may
run several processes (a supervisor and its C{--api-workers}), so the time
of every descendant counts, and that of children already reaped (their
parent's cutime and cstime) too.
"""

import os

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """
    The fields of C{/proc/<pid>/stat} after the command name (which may
    hold spaces and parentheses), or L{None} if the process is gone.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 3 (state) is the first after the last ')'.
    return text[text.rindex(")") + 2:].split()


def descendants(pid):
    """
    C{pid} and every process below it, by the parent ids in /proc.
    """
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat(name)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def treeCPU(pid):
    """
    The user and system CPU seconds used so far by C{pid} and all its
    descendants, living or reaped: utime + stime + cutime + cstime of each
    living process of the tree.  A living child's time is not yet in its
    parent's cutime (that happens when it is reaped), so nothing counts
    twice; a child that exits between the walk and the reads may be missed
    once (a few ticks at most).
    """
    total = 0
    for member in descendants(pid):
        fields = _stat(member)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of stat(5).
            total += sum(int(value) for value in fields[11:15])
    return total / TICKS
