{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "edgepath.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "edgepath.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "edgepath.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "edgepath.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one role: include "edgepath.selectorLabels" (list . "edge") */}}
{{- define "edgepath.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "edgepath.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "edgepath.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "edgepath.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "edgepath.secretName" -}}
{{- default (printf "%s-secret" (include "edgepath.fullname" .)) .Values.secret.existingSecret }}
{{- end }}

{{- define "edgepath.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The wildcard address of the pods' IP family (values.ipFamily), for listeners.
*/}}
{{- define "edgepath.anyAddress" -}}
{{- if eq .Values.ipFamily "IPv6" }}[::]{{ else }}0.0.0.0{{ end }}
{{- end }}

{{/*
Environment shared by both roles. Names are the settings of packages/config (`edgepath help`).
Secrets come from one Secret by key; optional keys may be absent from an existing Secret.
*/}}
{{- define "edgepath.commonEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: EDGEPATH_NODE_ID
  value: "$(POD_NAME)"
- name: EDGEPATH_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: EDGEPATH_DOMAINS
  value: {{ join "," .Values.domains | quote }}
{{- with .Values.domainAliases }}
- name: EDGEPATH_DOMAIN_ALIASES
  value: {{ join "," . | quote }}
{{- end }}
- name: EDGEPATH_INTERNAL_TRANSPORT
  value: {{ .Values.internalTransport | quote }}
- name: EDGEPATH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "edgepath.secretName" . }}
      key: {{ .Values.secret.keys.clusterSecret }}
- name: EDGEPATH_HEARTBEAT_MS
  value: {{ .Values.cluster.heartbeatMs | quote }}
- name: EDGEPATH_MEMBER_TTL_MS
  value: {{ .Values.cluster.memberTtlMs | quote }}
- name: NATS_URL
  value: {{ .Values.nats.url | quote }}
{{- with .Values.nats.user }}
- name: NATS_USER
  value: {{ . | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "edgepath.secretName" $ }}
      key: {{ $.Values.secret.keys.natsPassword }}
{{- else }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "edgepath.secretName" . }}
      key: {{ .Values.secret.keys.natsToken }}
      optional: true
{{- end }}
- name: NATS_TLS
  value: {{ .Values.nats.tls | quote }}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
- name: OTEL_TRACES_SAMPLER
  value: {{ .Values.otel.sampler | quote }}
{{- with .Values.otel.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(POD_NAME),k8s.namespace.name=%s%s" .Release.Namespace (ternary (printf ",%s" .Values.otel.resourceAttributes) "" (ne .Values.otel.resourceAttributes "")) | quote }}
{{- end }}
{{- end }}

{{/* Prometheus scrape annotations on the admin port. */}}
{{- define "edgepath.metricsAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{- define "edgepath.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
{{- end }}
