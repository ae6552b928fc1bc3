"""
Tools the tests share, not tests themselves: the API case table
(L{apicases}) and its HTTP and gRPC drivers (L{apitools}, L{grpctools}),
child processes (L{processtools}), self-signed certificates (L{tlstools}),
and the scripts the process tests run (L{sdk_workflow}, L{task_worker}).
"""
