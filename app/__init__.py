"""alertbridge: Alertmanager and kube-eventer in, Feishu / DingTalk / WeCom cards out."""

__version__ = "0.1.0"
