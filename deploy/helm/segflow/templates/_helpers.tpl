{{/* The pipeline's stages, in the order events flow. */}}
{{- define "segflow.stages" -}}
definer segmenter exporter reader
{{- end -}}

{{- define "segflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* RELEASE-segflow, or the release name when it holds the chart's name. */}}
{{- define "segflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "segflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "segflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "segflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "segflow.labels" -}}
helm.sh/chart: {{ include "segflow.chart" . }}
{{ include "segflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: segflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of a component: dict "root" $ "component" NAME. */}}
{{- define "segflow.componentLabels" -}}
{{ include "segflow.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "segflow.componentSelectorLabels" -}}
{{ include "segflow.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "segflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "segflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "segflow.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the Platform credentials. */}}
{{- define "segflow.platformSecretName" -}}
{{- default (printf "%s-platform" (include "segflow.fullname" .)) .Values.platform.existingSecret -}}
{{- end -}}

{{/* NATS: this release's server (charts/nats names it RELEASE-nats) or nats.url. */}}
{{- define "segflow.natsURL" -}}
{{- if .Values.nats.enabled -}}
{{- $name := default (printf "%s-nats" .Release.Name) .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- $port := (.Values.nats.service | default dict).port | default 4222 -}}
{{- printf "nats://%s:%v" $name $port -}}
{{- else -}}
{{- .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{- define "segflow.upsFullname" -}}
{{- printf "%s-ups" (include "segflow.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Platform the stages call: ups in this release, or platform.url. */}}
{{- define "segflow.platformURL" -}}
{{- if .Values.ups.enabled -}}
{{- printf "http://%s:%v" (include "segflow.upsFullname" .) .Values.ups.service.port -}}
{{- else -}}
{{- .Values.platform.url -}}
{{- end -}}
{{- end -}}

{{/* Fails on values that cannot work, with what to set. */}}
{{- define "segflow.validate" -}}
{{- if and (not .Values.nats.enabled) (not .Values.nats.url) -}}
{{- fail "segflow: NATS is not configured: set nats.url to your NATS server (nats://HOST:4222), or nats.enabled=true to run one in this release" -}}
{{- end -}}
{{- if and .Values.nats.enabled .Values.nats.url -}}
{{- fail "segflow: both nats.enabled and nats.url are set: set nats.enabled=false to use the NATS server at nats.url" -}}
{{- end -}}
{{- if and (not .Values.ups.enabled) (not .Values.platform.url) -}}
{{- fail "segflow: ups.enabled is false and platform.url is empty: set platform.url to the Platform's API host (https://platform.adobe.io)" -}}
{{- end -}}
{{- if and (not .Values.platform.existingSecret) (or (not .Values.platform.clientId) (not .Values.platform.clientSecret)) -}}
{{- fail "segflow: set platform.clientId and platform.clientSecret, or platform.existingSecret to a Secret holding them" -}}
{{- end -}}
{{- if and .Values.nats.credentials.existingSecret (not .Values.nats.credentials.key) -}}
{{- fail "segflow: nats.credentials.key is empty: set the key of the .creds file in nats.credentials.existingSecret" -}}
{{- end -}}
{{- end -}}

{{/* GOMEMLIMIT from the container's memory limit, when it has one: dict "resources" R. */}}
{{- define "segflow.goMemLimit" -}}
{{- if (.resources.limits | default dict).memory -}}
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
{{- end }}
{{- end -}}

{{/* The Platform credentials from the Secret: dict "root" $ "id" NAME "secret" NAME. */}}
{{- define "segflow.credentialsEnv" -}}
- name: {{ .id }}
  valueFrom:
    secretKeyRef:
      name: {{ include "segflow.platformSecretName" .root }}
      key: {{ .root.Values.platform.secretKeys.clientId }}
- name: {{ .secret }}
  valueFrom:
    secretKeyRef:
      name: {{ include "segflow.platformSecretName" .root }}
      key: {{ .root.Values.platform.secretKeys.clientSecret }}
{{- end -}}

{{/* Pod annotations: a new Secret restarts the pods. */}}
{{- define "segflow.podAnnotations" -}}
{{- if not .Values.platform.existingSecret }}
checksum/platform: {{ printf "%s/%s/%s" .Values.platform.clientId .Values.platform.clientSecret .Values.platform.orgId | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
