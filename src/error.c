/* error.c - messages and names for crew's error codes and statuses. */
#include "crew.h"

const char *crew_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case CREW_REMOVED:
        return "removed: the task was queued and will never run";
    case CREW_REQUESTED:
        return "requested: the running task was asked to stop";
    case CREW_TOO_LATE:
        return "too late: the task was already terminal";
#define CREW__ERR_MSG(name, val, msg)                                                              \
    case CREW_##name:                                                                              \
        return msg;
        CREW_ERRNO_MAP(CREW__ERR_MSG)
#undef CREW__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *crew_err_name(int err)
{
    switch (err) {
    case 0:
        return "CREW_OK";
    case CREW_REMOVED:
        return "CREW_REMOVED";
    case CREW_REQUESTED:
        return "CREW_REQUESTED";
    case CREW_TOO_LATE:
        return "CREW_TOO_LATE";
#define CREW__ERR_NAME(name, val, msg)                                                             \
    case CREW_##name:                                                                              \
        return "CREW_" #name;
        CREW_ERRNO_MAP(CREW__ERR_NAME)
#undef CREW__ERR_NAME
    default:
        return "CREW_UNKNOWN";
    }
}

const char *crew_status_name(crew_status_t s)
{
    switch (s) {
    case CREW_TASK_QUEUED:
        return "QUEUED";
    case CREW_TASK_RUNNING:
        return "RUNNING";
    case CREW_TASK_DONE:
        return "DONE";
    case CREW_TASK_FAILED:
        return "FAILED";
    case CREW_TASK_CANCELLED:
        return "CANCELLED";
    case CREW_TASK_ACTOR_DEAD:
        return "ACTOR_DEAD";
    }
    return "UNKNOWN";
}
