/*
 * actor.h - the executor's lifecycle hooks into actor.c. init: in
 * crew_create, before anything can fail. shutdown: at the end of
 * crew_shutdown, once quiescent: every actor is DEAD (cause SHUTDOWN) and
 * its destructor has run. fini: when the executor is freed: frees the
 * actor structures still held by handles.
 */
#ifndef CREW_ACTOR_H
#define CREW_ACTOR_H

struct crew;

void crew__actors_init(struct crew *ex);
void crew__actors_shutdown(struct crew *ex);
void crew__actors_fini(struct crew *ex);

#endif
